"""Print the model zoo as the Markdown table of docs/zoo.md.

    python bench/zoo_table.py

Params counts torch parameters (BatchNorm running statistics excluded); MACs counts convolutions, matmuls and
linear layers for one batch-1 inference (edgelower.zoo.mac_count).
"""

from edgelower import zoo


def shape_text(spec: zoo.InputSpec) -> str:
    text = "x".join(str(d) for d in spec.shape)
    return text if spec.dtype.is_floating_point else f"{text} {str(spec.dtype).removeprefix('torch.')}"


def main() -> None:
    print("| model | inputs | params | MACs | description | published figure it mirrors |")
    print("|---|---|---:|---:|---|---|")
    for name in zoo.names():
        entry = zoo.MODELS[name]
        model, inputs = zoo.get(name)
        published = entry.published.source if entry.published else ""
        print(f"| `{name}` | {', '.join(shape_text(s) for s in entry.inputs)} | {zoo.param_count(model):,} "
              f"| {zoo.mac_count(model, inputs):,} | {entry.description} | {published} |")


if __name__ == "__main__":
    main()
