"""``hwgen import``: QONNX models (Brevitas ``export_qonnx``) -> hwgen YAML + npz, exact to qonnx.

See :mod:`hwgen.importer.convert` for the accepted graphs and how each node
is mapped, :mod:`hwgen.importer.fit` for the integer fits.
"""

from .convert import Imported, import_model, network_name
from .qonnx_graph import ModelError
from .write import format_table, load_check, write_outputs

__all__ = ["Imported", "ModelError", "import_model", "network_name", "format_table",
           "load_check", "write_outputs"]
