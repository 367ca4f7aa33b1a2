"""Compile a PATTERN tree into the instruction list that ``cep.matcher.vm`` runs.

Alternation and quantifiers become ``SPLIT`` instructions whose first target is the preferred
choice, so the VM's depth-first search visits candidate matches in SQL:2016 preference order.
Bounded quantifiers are unrolled; every iteration of a sub-pattern that can match no rows is
followed by ``EXIT_IF_EMPTY``, which ends the loop after an empty iteration (SEMANTICS.md §1.4).

>>> p = compile_pattern(parse_row_pattern("A B*"), {"A": 0, "B": 1})
>>> [OP_NAMES[o] for o in p.ops]
['CHAR', 'SPLIT', 'CHAR', 'JMP', 'MATCH']
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cep.errors import PatternError
from cep.matcher import vm
from cep.matcher.syntax import (
    Alt,
    Anchor,
    Concat,
    Empty,
    Exclude,
    Node,
    Permute,
    Quant,
    Var,
    parse_row_pattern,
)

__all__ = ["MAX_INSTRUCTIONS", "OP_NAMES", "Program", "compile_pattern", "is_nullable"]

MAX_INSTRUCTIONS = 200_000
MAX_PERMUTE_ITEMS = 6
OP_NAMES = {
    vm.CHAR: "CHAR",
    vm.SPLIT: "SPLIT",
    vm.JMP: "JMP",
    vm.MATCH: "MATCH",
    vm.ASSERT_START: "ASSERT_START",
    vm.ASSERT_END: "ASSERT_END",
    vm.SAVEPOS: "SAVEPOS",
    vm.EXIT_IF_EMPTY: "EXIT_IF_EMPTY",
}


@dataclass(frozen=True)
class Program:
    """Instruction arrays: opcode, first and second operand, and the number of registers."""

    ops: npt.NDArray[np.int32]
    op_a: npt.NDArray[np.int32]
    op_b: npt.NDArray[np.int32]
    n_regs: int


def is_nullable(node: Node) -> bool:
    """Whether the sub-pattern can match zero rows."""
    if isinstance(node, Var):
        return False
    if isinstance(node, Empty | Anchor):
        return True
    if isinstance(node, Concat | Permute):
        return all(is_nullable(i) for i in node.items)
    if isinstance(node, Alt):
        return any(is_nullable(i) for i in node.items)
    if isinstance(node, Exclude):
        return is_nullable(node.node)
    return node.min == 0 or is_nullable(node.node)


class _Emitter:
    def __init__(self, var_index: dict[str, int]) -> None:
        self.var_index = var_index
        self.code: list[list[int]] = []
        self.n_regs = 0

    def emit(self, op: int, a: int = 0, b: int = 0) -> int:
        if len(self.code) >= MAX_INSTRUCTIONS:
            raise PatternError(
                f"PATTERN is too large once quantifiers are expanded (over {MAX_INSTRUCTIONS} "
                "instructions); use smaller {n,m} bounds"
            )
        self.code.append([op, a, b])
        return len(self.code) - 1

    def here(self) -> int:
        return len(self.code)

    def node(self, node: Node, excluded: int) -> None:
        if isinstance(node, Var):
            self.emit(vm.CHAR, self.var_index[node.name], excluded)
        elif isinstance(node, Empty):
            return
        elif isinstance(node, Anchor):
            self.emit(vm.ASSERT_START if node.kind == "start" else vm.ASSERT_END)
        elif isinstance(node, Concat):
            for item in node.items:
                self.node(item, excluded)
        elif isinstance(node, Alt):
            self.alternatives(list(node.items), excluded)
        elif isinstance(node, Permute):
            if len(node.items) > MAX_PERMUTE_ITEMS:
                raise PatternError(f"PERMUTE takes at most {MAX_PERMUTE_ITEMS} items")
            orders = itertools.permutations(node.items)
            self.alternatives([Concat(tuple(order)) for order in orders], excluded)
        elif isinstance(node, Exclude):
            self.node(node.node, 1)
        else:
            self.quantified(node, excluded)

    def alternatives(self, items: list[Node], excluded: int) -> None:
        jumps: list[int] = []
        for item in items[:-1]:
            split = self.emit(vm.SPLIT)
            self.code[split][1] = self.here()
            self.node(item, excluded)
            jumps.append(self.emit(vm.JMP))
            self.code[split][2] = self.here()
        self.node(items[-1], excluded)
        for jump in jumps:
            self.code[jump][1] = self.here()

    def quantified(self, node: Quant, excluded: int) -> None:
        nullable = is_nullable(node.node)
        exits: list[int] = []

        def iteration() -> None:
            if nullable:
                reg = self.n_regs
                self.n_regs += 1
                self.emit(vm.SAVEPOS, reg)
                self.node(node.node, excluded)
                exits.append(self.emit(vm.EXIT_IF_EMPTY, reg))
            else:
                self.node(node.node, excluded)

        def split() -> int:
            index = self.emit(vm.SPLIT)
            body = self.here()
            # The preferred branch goes first: iterate again (greedy) or stop (reluctant).
            self.code[index][1 if node.greedy else 2] = body
            exits.append(-index - 1)  # patched below with the end of the quantifier
            return index

        for _ in range(node.min):
            iteration()
        if node.max is None:
            loop = split()
            iteration()
            self.emit(vm.JMP, loop)
        else:
            for _ in range(node.max - node.min):
                split()
                iteration()
        end = self.here()
        for ref in exits:
            if ref < 0:
                index = -ref - 1
                self.code[index][2 if node.greedy else 1] = end
            else:
                self.code[ref][2] = end


def compile_pattern(node: Node | str, var_index: dict[str, int]) -> Program:
    """Compile a pattern tree (or PATTERN text) for the VM.

    Args:
        node: the parsed pattern.
        var_index: variable name → label number (0..62).
    """
    tree = parse_row_pattern(node) if isinstance(node, str) else node
    emitter = _Emitter(var_index)
    emitter.node(tree, 0)
    emitter.emit(vm.MATCH)
    code = np.array(emitter.code, dtype=np.int32).reshape(-1, 3)
    return Program(
        ops=np.ascontiguousarray(code[:, 0]),
        op_a=np.ascontiguousarray(code[:, 1]),
        op_b=np.ascontiguousarray(code[:, 2]),
        n_regs=emitter.n_regs,
    )
