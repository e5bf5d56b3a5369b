"""DCGAN Studio: `streamlit run streamlit_app.py`. The pages are thin views over the dcgan/ engine."""
import streamlit as st

from ui.shell import mark_shell

st.set_page_config(page_title="DCGAN Studio", page_icon="🎨", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
    st.Page("pages/bn_lab.py", title="Batch-norm lab", icon="🧪", url_path="bn-lab"),
    st.Page("pages/latent.py", title="Latent explorer", icon="🧭", url_path="latent"),
]

mark_shell()
st.navigation(PAGES).run()
