"""Importers: each turns a model source (ONNX file, model-definition file) into an ir.Graph."""
