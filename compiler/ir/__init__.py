"""The IR layer: the typed Graph (`graph`), op signatures (`ops`) and traits (`traits`), the verifier, the printer,
fresh and sanitized names, and the Schedule backends render. Nothing here imports torch or a backend."""
