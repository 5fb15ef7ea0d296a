"""The grid the meters sit on: a pandapower net (simbench or ``pandapower.networks``), a power
flow per step with the loads of that step, and the radial topology (which buses are downstream
of which).

The meters *are* the grid's loads: :class:`Grid` replaces the net's loads and static generators
by one load per bus that carries a meter, and :meth:`Grid.solve` sets their powers (MW) from the
meters' net demand of the step. A meter with PV feeds in as a negative load.

Fast path (our choice, docs/devices.md): :meth:`Grid.solve_linear` uses voltage sensitivities
(dV/dP, dV/dQ per bus pair) measured once by finite differences around a base power flow, so a
step is a matrix product instead of a Newton-Raphson run; it agrees with the power flow to a
fraction of a percent at household loads.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Grid", "GridError", "load_simbench"]

FloatArray = npt.NDArray[np.float64]


class GridError(ValueError):
    """A grid that cannot be loaded or solved."""


def load_simbench(code: str) -> Any:
    """A simbench net by its code (e.g. ``1-LV-rural1--0-sw``), from the installed package."""
    import simbench

    try:
        return simbench.get_simbench_net(code)
    except Exception as exc:  # simbench raises bare exceptions for unknown codes
        raise GridError(f"simbench grid {code!r} could not be loaded: {exc}") from None


def _runpp(net: Any) -> None:
    import pandapower as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pp.runpp(net, numba=False, calculate_voltage_angles=False, init="results")
        except Exception as exc:  # pandapower raises LoadflowNotConverged and others
            raise GridError(f"power flow did not converge: {exc}") from None


@dataclass
class Grid:
    """A pandapower net whose loads are set per step by the meters on its buses."""

    net: Any
    name: str = ""
    #: The buses that carry meters, in the order of :meth:`solve`'s arguments.
    buses: Sequence[int] = ()
    _children: dict[int, list[int]] = field(default_factory=dict, init=False, repr=False)
    _sens: tuple[FloatArray, FloatArray, FloatArray] | None = field(default=None, init=False)

    @classmethod
    def from_simbench(cls, code: str) -> Grid:
        return cls(load_simbench(code), name=code)

    @classmethod
    def from_pandapower(cls, function: str) -> Grid:
        """A grid from ``pandapower.networks`` by function name, e.g.
        ``create_kerber_landnetz_kabel_1``."""
        import pandapower.networks as pn

        make = getattr(pn, function, None)
        if make is None or not callable(make):
            raise GridError(f"pandapower.networks has no grid {function!r}")
        return cls(make(), name=function)

    def __post_init__(self) -> None:
        net = self.net
        if len(net.ext_grid) == 0:
            raise GridError(f"grid {self.name!r} has no external grid (slack)")
        self.original_loads = net.load[["bus", "p_mw", "q_mvar"]].copy()
        if "profile" in net.load:
            self.original_loads["profile"] = net.load["profile"]
        self.original_sgens = net.sgen[["bus", "p_mw"]].copy()
        if "profile" in net.sgen:
            self.original_sgens["profile"] = net.sgen["profile"]
        self._build_tree()
        if self.buses:
            self.use_buses(self.buses)

    # -- topology ---------------------------------------------------------------------------
    def _build_tree(self) -> None:
        import pandapower.topology as top

        graph = top.create_nxgraph(self.net, respect_switches=True)
        root = int(self.net.ext_grid.bus.iloc[0])
        self.root = root
        self._children = {}
        seen = {root}
        frontier = [root]
        while frontier:
            nxt = []
            for b in frontier:
                for n in graph.neighbors(b):
                    if n not in seen:
                        seen.add(n)
                        self._children.setdefault(int(b), []).append(int(n))
                        nxt.append(n)
            frontier = nxt
        self.connected = frozenset(int(b) for b in seen)

    def downstream(self, bus: int) -> frozenset[int]:
        """``bus`` and every bus whose path to the slack passes through it (radial grids)."""
        if bus not in self.connected:
            raise GridError(f"bus {bus} is not connected in grid {self.name!r}")
        out = {bus}
        stack = [bus]
        while stack:
            for c in self._children.get(stack.pop(), []):
                out.add(c)
                stack.append(c)
        return frozenset(out)

    def load_buses(self) -> list[int]:
        """Buses of the net's original loads (one entry per load, in table order)."""
        return [int(b) for b in self.original_loads.bus]

    # -- loads and power flow ---------------------------------------------------------------
    def use_buses(self, buses: Sequence[int]) -> None:
        """Replace the net's loads and generators by one load per bus in ``buses``."""
        import pandapower as pp

        unique = sorted(set(int(b) for b in buses))
        for b in unique:
            if b not in self.connected:
                raise GridError(f"bus {b} is not a connected bus of grid {self.name!r}")
        net = self.net
        net.load.drop(net.load.index, inplace=True)
        net.sgen.drop(net.sgen.index, inplace=True)
        for b in unique:
            pp.create_load(net, b, p_mw=0.0, q_mvar=0.0, name=f"meters@{b}")
        self.buses = unique
        self._pos = {b: i for i, b in enumerate(unique)}
        self._bus_rows = np.array([net.bus.index.get_loc(b) for b in unique])
        self._sens = None

    def bus_position(self, bus: int) -> int:
        return self._pos[bus]

    def solve(self, p_kw: FloatArray, q_kvar: FloatArray) -> FloatArray:
        """Run the power flow with these bus loads (kW, kvar per bus of :attr:`buses`); return
        the voltage magnitude (p.u.) of each of those buses."""
        self.net.load["p_mw"] = np.asarray(p_kw, dtype=np.float64) / 1000.0
        self.net.load["q_mvar"] = np.asarray(q_kvar, dtype=np.float64) / 1000.0
        _runpp(self.net)
        return np.asarray(self.net.res_bus.vm_pu.to_numpy()[self._bus_rows], dtype=np.float64)

    def _sensitivities(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        n = len(self.buses)
        zero = np.zeros(n)
        v0 = self.solve(zero, zero)
        sp = np.zeros((n, n))
        sq = np.zeros((n, n))
        step = 1.0  # kW: small next to a feeder's capacity, large against solver tolerance
        for j in range(n):
            e = np.zeros(n)
            e[j] = step
            sp[:, j] = (self.solve(e, zero) - v0) / step
            sq[:, j] = (self.solve(zero, e) - v0) / step
        return v0, sp, sq

    def sensitivities(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(V0, dV/dP, dV/dQ) in p.u. and p.u. per kW / kvar, measured once (2N+1 power flows)."""
        if self._sens is None:
            self._sens = self._sensitivities()
        return self._sens

    def solve_linear(self, p_kw: FloatArray, q_kvar: FloatArray) -> FloatArray:
        """The fast path: V = V0 + dV/dP * P + dV/dQ * Q (sensitivities measured once)."""
        v0, sp, sq = self.sensitivities()
        return np.asarray(v0 + sp @ p_kw + sq @ q_kvar, dtype=np.float64)
