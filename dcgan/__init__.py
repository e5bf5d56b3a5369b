"""DCGAN Studio's engine: models, data, training runs and their folders. Knows nothing of Streamlit.

Import the pieces from their modules (`dcgan.train.trainer`, `dcgan.runs.manage`, ...): importing `dcgan`
itself stays cheap, so the app and the CLI start fast.
"""

__version__ = "0.1.0"
