"""Batch-norm lab: the lesson's networks with and without batch norm, its whole table, inference mode, DCGAN."""

import streamlit as st

from ui.shell import require_shell

require_shell()

from ui.lab_dcgan import dcgan_comparison_tab  # noqa: E402
from ui.lab_inference import inference_tab  # noqa: E402
from ui.lab_pair import JOB as PAIR_JOB  # noqa: E402
from ui.lab_pair import pair_tab  # noqa: E402
from ui.lab_sweep import sweep_tab  # noqa: E402
from ui.lab_table import table_tab  # noqa: E402

st.title("Batch-norm lab")
st.caption(
    "The batch-normalization lesson: two networks with identical starting weights, fed identical batches; "
    "the only difference is batch norm. Fully connected 784 → 100 → 100 → 100 → 10, plain SGD, batches of 60."
)

pair, table, sweep, inference, dcgan = st.tabs(
    ["A pair", "The lesson's table", "Sweep", "Inference mode", "DCGAN with and without batch norm"]
)
with pair:
    pair_tab()
with table:
    table_tab()
with sweep:
    sweep_tab()
with inference:
    inference_tab(st.session_state.get(PAIR_JOB))  # the pair's trained networks, once there are some
with dcgan:
    dcgan_comparison_tab()
