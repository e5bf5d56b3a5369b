"""Streamlit views shared by the pages (the run view, the settings form). The engine is dcgan/; this
package only lays its results out, so the Train page and the batch-norm lab show runs the same way."""
