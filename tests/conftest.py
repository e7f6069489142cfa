import pytest


@pytest.fixture
def verilator_build(tmp_path_factory):
    """Build Verilog under Verilator (cached per design hash) and return the build folder."""
    from sim.verilator import build

    def _build(verilog_text, toplevel, **kwargs):
        return build(verilog_text, toplevel, log=lambda *a: None, **kwargs)
    return _build
