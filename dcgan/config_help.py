"""Each setting's help, read from the trailing comment of its field in dcgan/config.py: what the CLI's --help and
the app's settings form say of it, so a setting is explained in one place, beside its definition."""

from __future__ import annotations

import ast
import functools
import io
import tokenize
from pathlib import Path

from dcgan import config


@functools.cache
def field_help() -> dict[str, str]:
    """Flat field name -> its trailing comment in dcgan/config.py ("side of the generated image in pixels: ..."): what
    the CLI's --help says of each flag. Read once from the source; {} when the source is not there (a zipped
    install), and the flags then go without."""
    try:
        source = Path(config.__file__).read_text(encoding="utf-8")
    except OSError:
        return {}
    comments = {
        token.start[0]: token.string.lstrip("#").strip()
        for token in tokenize.generate_tokens(io.StringIO(source).readline)
        if token.type == tokenize.COMMENT
    }
    classes = {klass.__name__ for klass in (config.RunConfig, *config.SECTIONS.values())}
    helps = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name in classes:
            for statement in node.body:
                line = statement.end_lineno or statement.lineno
                if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and line in comments:
                    helps[statement.target.id] = comments[line]
    return helps
