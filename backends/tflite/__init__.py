"""TFLite: the int8 graph written as a .tflite flatbuffer (`export`, `ops`, `data_movement`) and the TFLite Micro
interpreter as an oracle (`tflm`)."""
