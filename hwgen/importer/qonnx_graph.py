"""A QONNX model as qonnx sees it: loading, cleanup, constants and running node chains.

Everything that touches ONNX goes through qonnx: ``cleanup_model`` (shape
inference, constant folding that keeps the quantizers), ``ModelWrapper`` and
``execute_onnx``, which runs the model's own nodes (qonnx's Quant and
BipolarQuant, onnxruntime for the standard ones). :meth:`Graph.run_chain`
feeds a chain of the model's nodes with values chosen by the importer, e.g.
every reachable integer accumulator, keeping the nodes, their attributes and
their constants as they are.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ModelError", "Graph", "QUANTIZERS", "ELEMENTWISE"]

QUANTIZERS = ("Quant", "BipolarQuant")
#: float ops by a constant that may sit between a MAC node and its quantizer (or after the last one)
ELEMENTWISE = ("Mul", "Add", "Sub", "Div")


class ModelError(ValueError):
    """The model cannot be imported exactly; the message names the node and what is supported."""


def node_label(node) -> str:
    return f"node {node.name!r} ({node.op_type})"


class Graph:
    """A cleaned QONNX model with the look-ups the importer needs."""

    def __init__(self, path):
        import onnx
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.util.cleanup import cleanup_model
        try:
            model = ModelWrapper(str(path))
        except Exception as error:            # noqa: BLE001 - onnx raises many kinds
            raise ModelError(f"{path}: not an ONNX model ({error})") from None
        self._check_inputs_known(model)
        try:
            model = cleanup_model(model)
        except Exception as error:            # noqa: BLE001
            raise ModelError(f"{path}: qonnx cleanup failed ({type(error).__name__}: {error})") \
                from None
        self.model = model
        self.path = str(path)
        self.opsets = list(model.model.opset_import)
        self._onnx = onnx
        if len(model.graph.input) != 1 or len(model.graph.output) != 1:
            raise ModelError(f"{path}: hwgen imports models with one input and one output, not "
                             f"{len(model.graph.input)} and {len(model.graph.output)}")
        self.input = model.graph.input[0].name
        self.output = model.graph.output[0].name
        self._const = {}

    @staticmethod
    def _check_inputs_known(model):
        """Every node input is an initializer, the one data input or another node's output."""
        inits = {t.name for t in model.graph.initializer}
        data = [t.name for t in model.graph.input if t.name not in inits]
        known = inits | {o for n in model.graph.node for o in n.output}
        known |= set(data[:1])
        for node in model.graph.node:
            for name in node.input:
                if name and name not in known:
                    what = ("a graph input without an initializer" if name in data
                            else "no initializer, graph input or node output")
                    raise ModelError(f"{node_label(node)} reads {name!r}, {what} (a missing "
                                     f"initializer? hwgen imports models with one data input)")

    # -- look-ups --------------------------------------------------------------------------------

    def shape(self, tensor) -> tuple:
        return tuple(int(d) for d in self.model.get_tensor_shape(tensor))

    def consumers(self, tensor):
        return list(self.model.find_consumers(tensor) or [])

    def producer(self, tensor):
        return self.model.find_producer(tensor)

    def is_const(self, tensor) -> bool:
        if self.model.get_initializer(tensor) is not None:
            return True
        node = self.producer(tensor)
        return node is not None and all(self.is_const(t) for t in node.input if t)

    def const(self, tensor, node=None) -> np.ndarray:
        """The value of a constant tensor (an initializer, or evaluated from its constant producers)."""
        if tensor in self._const:
            return self._const[tensor]
        value = self.model.get_initializer(tensor)
        if value is None:
            if not self.is_const(tensor):
                where = f"{node_label(node)}: " if node is not None else ""
                raise ModelError(f"{where}input {tensor!r} must be a constant (an initializer), "
                                 f"but it depends on the model input")
            nodes = self._ancestors(tensor)
            value = self.run(nodes, {}, [tensor])[tensor]
        self._const[tensor] = np.asarray(value)
        return self._const[tensor]

    def _ancestors(self, tensor):
        wanted, stack = set(), [tensor]
        while stack:
            node = self.producer(stack.pop())
            if node is not None and node.name not in wanted:
                wanted.add(node.name)
                stack.extend(t for t in node.input if t)
        return [n for n in self.model.graph.node if n.name in wanted]

    # -- execution -------------------------------------------------------------------------------

    def run(self, nodes, inputs: dict, outputs, extra_constants=None) -> dict:
        """Execute ``nodes`` (the model's own) with qonnx: ``inputs`` name -> float32 array.

        The constants the nodes read come from the model (laid out by
        ``extra_constants`` where given); shapes are inferred by qonnx.
        """
        from onnx import TensorProto, helper, numpy_helper
        from qonnx.core.modelwrapper import ModelWrapper
        from qonnx.core.onnx_exec import execute_onnx
        from qonnx.transformation.infer_shapes import InferShapes
        from qonnx.util.basic import qonnx_make_model

        extra_constants = extra_constants or {}
        produced = {o for n in nodes for o in n.output}
        constants = {}
        for node in nodes:
            for name in node.input:
                if name and name not in inputs and name not in produced and name not in constants:
                    value = extra_constants.get(name)
                    constants[name] = self.const(name, node) if value is None else value
        graph = helper.make_graph(
            nodes, "hwgen_import_eval",
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape))
             for name, value in inputs.items()],
            [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs],
            initializer=[numpy_helper.from_array(np.asarray(v), name) for name, v in constants.items()])
        model = ModelWrapper(qonnx_make_model(graph, opset_imports=self.opsets))
        model = model.transform(InferShapes())
        return execute_onnx(model, {k: np.ascontiguousarray(v, dtype=np.float32)
                                    for k, v in inputs.items()})
