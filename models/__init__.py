"""The bundled example models, each a model-definition file written with pyconvert.nn.

Each file defines ``build_model()`` returning the network (PyTorch-style), and
``INPUT_SHAPE``, the NCHW shape of one batch the model is converted for. Installed,
this folder is the package ``pyconvert.models``; a model can be named by its short
name (the file name without .py) on the command line.
"""
