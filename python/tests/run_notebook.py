#!/usr/bin/env python3
"""Runs a notebook as its reader would: a fresh python3 kernel (nbclient),
every cell in order, from the notebook's folder. Fails on the first cell that
raises, and on a notebook committed with outputs (stale results that the
repository would show as if they were current).

    python3 python/tests/run_notebook.py examples/buffer_pool_usage.ipynb
"""

import os
import pathlib
import sys
import tempfile
import time

import nbclient
import nbformat


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: run_notebook.py NOTEBOOK.ipynb")
    path = pathlib.Path(sys.argv[1]).resolve()
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    stale = [index for index, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    if stale:
        sys.exit(f"{path.name}: code cells {stale} were committed with outputs; clear them "
                 f"(jupyter nbconvert --clear-output --inplace {path.name})")
    # ipykernel's debugger warns about frozen modules on every start.
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    start = time.monotonic()
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=240,
                                     resources={"metadata": {"path": str(path.parent)}})
    # What the notebook writes (traces, timelines) goes to a folder removed
    # afterwards: the kernel inherits TMPDIR.
    with tempfile.TemporaryDirectory(prefix="notebook-") as scratch:
        os.environ["TMPDIR"] = scratch
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as error:
            sys.exit(f"{path.name}: {error}")
    cells = sum(cell.cell_type == "code" for cell in notebook.cells)
    print(f"{path.name}: {cells} code cells ran in {time.monotonic() - start:.1f} s")


if __name__ == "__main__":
    main()
