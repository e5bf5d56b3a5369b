"""DCGAN Studio: `streamlit run streamlit_app.py`. The pages are thin views over the dcgan/ engine."""

import streamlit as st

from ui.shell import mark_shell

st.set_page_config(page_title="DCGAN Studio", page_icon="🎨", layout="wide")

# Each url_path is its file's stem: Streamlit's old pages/-folder mode can answer a fresh server's first
# request by file name (see ui/shell.py), and a different name there shows "Page not found".
PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/bn_lab.py", title="Batch-norm lab", icon="🧪", url_path="bn_lab"),
    st.Page("pages/latent.py", title="Latent explorer", icon="🧭", url_path="latent"),
]

mark_shell()
st.navigation(PAGES).run()
