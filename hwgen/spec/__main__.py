"""``python -m hwgen.spec NET.yaml``: validate a network and print its inferred layers.

Exits 0 when the network is valid, 2 (with the error on stderr) when it is not.
"""

import sys

from . import SpecError, load


def summary(net) -> str:
    rows = [("layer", "op", "inputs", "in", "op out", "out", "pe", "simd")]
    for layer in net.layers:
        act = f" +{layer.activation.op}" if layer.activation is not None else ""
        rows.append((layer.name, layer.op + act, ",".join(layer.inputs),
                     " ".join(t.describe() for t in layer.in_types),
                     f"{layer.op_type.describe()} [{layer.op_type.lo}, {layer.op_type.hi}]",
                     layer.out_type.describe(), str(layer.pe), str(layer.simd)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    source = net.weights_file or f"seed {net.seed}"
    lines = [f"{net.name}: {net.input.describe()} -> {net.output.describe()} ({source}; "
             f"{net.target.device} @ {net.target.clock_mhz:g} MHz, io {net.target.io_bits} bits)"]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print("usage: python -m hwgen.spec NET.yaml", file=sys.stderr)
        return 2
    try:
        net = load(argv[0])
    except SpecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(net))
    return 0


if __name__ == "__main__":
    sys.exit(main())
