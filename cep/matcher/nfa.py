"""The compiled runtime of ``sequence`` patterns: Flink CEP's NFA over sorted, keyed events.

``cep.matcher.sequence`` compiles a pattern into the state graph Flink's ``NFACompiler`` builds
(states with TAKE / IGNORE / PROCEED transitions guarded by boolean programs over *atoms*, one
atom per step condition) and hands it here with the events sorted by key and time. This module
is the per-event loop of Flink's ``NFA`` (``advanceTime``, ``doProcess``, ``computeNextStates``,
``processMatchesAccordingToSkipStrategy``), compiled with numba:

* A *run* (Flink: computation state) is ``(state, node, start time, start ordinal)`` plus a row
  of registers. Runs share their prefixes through a node pool ``(parent, step, event, ordinal)``
  (Flink's shared buffer); a match is the chain from its tip node to the root.
* Per key the open runs are kept in start order, so window expiry and the skip strategies only
  ever drop a prefix of the list, and the earliest open run is the first one.
* Atoms that read only the current event arrive as a precomputed matrix; the others (iterative
  conditions) run as stack bytecode over the event's precomputed columns and the run's
  registers (last / first values, sums, counts of the events the run has taken per step).

Everything the runtime keeps between calls is plain arrays, so the caller can save and restore
it. Nothing here allocates per event except when a buffer has to grow.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# NFA state kinds.
NORMAL, START, FINAL, STOP, PENDING = 0, 1, 2, 3, 4
# Transition actions.
TAKE, IGNORE, PROCEED = 0, 1, 2
# Transition condition programs (postfix over atoms).
K_TRUE, K_FALSE, K_ATOM, K_NOT, K_AND, K_OR = 0, 1, 2, 3, 4, 5
# Atom kinds.
A_STATIC, A_DYNAMIC = 0, 1
# Iterative-condition bytecode.
B_CONST = 0  # a = constant
B_COL = 1  # a = column, current event
B_LAST = 2  # a = ring base, b = k, c = count register: k-th last value taken
B_FIRST = 3  # a = first base, b = k, c = count register: k-th first value taken
B_FIRSTSELF = 4  # as B_FIRST, and the current event when exactly k were taken (d = column)
B_AGG = 5  # a = function, b = aggregate base, c = column, d = 1 to include the current event
B_COUNTSTAR = 6  # a = count register, d = 1 to include the current event
B_ADD, B_SUB, B_MUL, B_DIV, B_MOD, B_NEG = 10, 11, 12, 13, 14, 15
B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE = 16, 17, 18, 19, 20, 21
B_AND, B_OR, B_NOT, B_ISNULL, B_ISNOTNULL, B_ABS, B_COALESCE = 22, 23, 24, 25, 26, 27, 28
# Aggregate functions.
AGG_SUM, AGG_AVG, AGG_COUNT, AGG_MIN, AGG_MAX = 0, 1, 2, 3, 4
# Register updates when a run takes an event for a step.
U_FIRST = 0  # a = base, b = length, c = column, d = count register
U_RING = 1  # a = base, b = length, c = column
U_AGG = 2  # a = base (sum, non-null count, min, max), c = column
U_CNT = 3  # a = count register
# Skip strategies.
SKIP_NO, SKIP_NEXT, SKIP_PAST, SKIP_FIRST, SKIP_LAST = 0, 1, 2, 3, 4

# Columns of the run rows (int64) and of the completed-match rows.
R_STATE, R_NODE, R_STS, R_SORD = 0, 1, 2, 3
Q_NODE, Q_SORD, Q_LORD, Q_PF, Q_PL = 0, 1, 2, 3, 4
# Columns of the node pool.
N_PARENT, N_STEP, N_EV, N_ORD = 0, 1, 2, 3


@njit(cache=True)
def _grow_i64(a: Any, need: int) -> Any:
    cap = a.shape[0]
    if need <= cap:
        return a
    b = np.empty((max(need, 2 * cap, 16), a.shape[1]), dtype=np.int64)
    b[:cap] = a
    return b


@njit(cache=True)
def _grow_f64(a: Any, need: int) -> Any:
    cap = a.shape[0]
    if need <= cap:
        return a
    b = np.empty((max(need, 2 * cap, 16), a.shape[1]), dtype=np.float64)
    b[:cap] = a
    return b


@njit(cache=True)
def _grow_u8(a: Any, need: int) -> Any:
    cap = a.shape[0]
    if need <= cap:
        return a
    b = np.empty((max(need, 2 * cap, 16), a.shape[1]), dtype=np.uint8)
    b[:cap] = a
    return b


@njit(cache=True)
def _grow_1d(a: Any, need: int) -> Any:
    cap = a.shape[0]
    if need <= cap:
        return a
    b = np.empty(max(need, 2 * cap, 16), dtype=a.dtype)
    b[:cap] = a
    return b


@njit(cache=True)
def _eval_prog(prog: int, ev: int, regs: Any, regn: Any, row: int, cond: Any,
               stack_v: Any, stack_n: Any) -> bool:
    """Run iterative-condition bytecode ``prog`` for event ``ev`` against register row ``row``."""
    bc_start = cond[3]
    bc_op = cond[4]
    bc_a = cond[5]
    bc_b = cond[6]
    bc_c = cond[7]
    bc_d = cond[8]
    consts = cond[9]
    consts_null = cond[10]
    cols = cond[11]
    cols_null = cond[12]
    sp = 0
    for i in range(bc_start[prog], bc_start[prog + 1]):
        op = bc_op[i]
        a = bc_a[i]
        b = bc_b[i]
        c = bc_c[i]
        d = bc_d[i]
        if op == B_CONST:
            stack_v[sp] = consts[a]
            stack_n[sp] = consts_null[a]
            sp += 1
        elif op == B_COL:
            stack_v[sp] = cols[a, ev]
            stack_n[sp] = cols_null[a, ev]
            sp += 1
        elif op == B_LAST or op == B_FIRST or op == B_FIRSTSELF:
            count = regs[row, c]
            if count > b:
                stack_v[sp] = regs[row, a + b]
                stack_n[sp] = regn[row, a + b] != 0
            elif op == B_FIRSTSELF and count == b:
                stack_v[sp] = cols[d, ev]
                stack_n[sp] = cols_null[d, ev]
            else:
                stack_v[sp] = 0.0
                stack_n[sp] = True
            sp += 1
        elif op == B_AGG:
            total = regs[row, b]
            nn = regs[row, b + 1]
            low = regs[row, b + 2]
            high = regs[row, b + 3]
            if d != 0 and not cols_null[c, ev]:
                v = cols[c, ev]
                if nn == 0 or v < low:
                    low = v
                if nn == 0 or v > high:
                    high = v
                total += v
                nn += 1
            if a == AGG_COUNT:
                stack_v[sp] = nn
                stack_n[sp] = False
            elif nn == 0:
                stack_v[sp] = 0.0
                stack_n[sp] = True
            else:
                stack_n[sp] = False
                if a == AGG_SUM:
                    stack_v[sp] = total
                elif a == AGG_AVG:
                    stack_v[sp] = total / nn
                elif a == AGG_MIN:
                    stack_v[sp] = low
                else:
                    stack_v[sp] = high
            sp += 1
        elif op == B_COUNTSTAR:
            stack_v[sp] = regs[row, a] + d
            stack_n[sp] = False
            sp += 1
        elif op == B_NEG or op == B_NOT or op == B_ISNULL or op == B_ISNOTNULL or op == B_ABS:
            v = stack_v[sp - 1]
            n = stack_n[sp - 1]
            if op == B_NEG:
                stack_v[sp - 1] = -v
            elif op == B_ABS:
                stack_v[sp - 1] = abs(v)
            elif op == B_NOT:
                stack_v[sp - 1] = 0.0 if v != 0.0 else 1.0
            elif op == B_ISNULL:
                stack_v[sp - 1] = 1.0 if n else 0.0
                stack_n[sp - 1] = False
            else:
                stack_v[sp - 1] = 0.0 if n else 1.0
                stack_n[sp - 1] = False
        else:
            sp -= 1
            lv = stack_v[sp - 1]
            ln = stack_n[sp - 1]
            rv = stack_v[sp]
            rn = stack_n[sp]
            if op == B_COALESCE:
                if ln:
                    stack_v[sp - 1] = rv
                    stack_n[sp - 1] = rn
            elif op == B_AND:
                # Kleene logic: FALSE wins over NULL.
                if (not ln and lv == 0.0) or (not rn and rv == 0.0):
                    stack_v[sp - 1] = 0.0
                    stack_n[sp - 1] = False
                elif ln or rn:
                    stack_n[sp - 1] = True
                else:
                    stack_v[sp - 1] = 1.0
            elif op == B_OR:
                if (not ln and lv != 0.0) or (not rn and rv != 0.0):
                    stack_v[sp - 1] = 1.0
                    stack_n[sp - 1] = False
                elif ln or rn:
                    stack_n[sp - 1] = True
                else:
                    stack_v[sp - 1] = 0.0
            elif ln or rn:
                stack_n[sp - 1] = True
            elif op == B_ADD:
                stack_v[sp - 1] = lv + rv
            elif op == B_SUB:
                stack_v[sp - 1] = lv - rv
            elif op == B_MUL:
                stack_v[sp - 1] = lv * rv
            elif op == B_DIV or op == B_MOD:
                if rv == 0.0:
                    stack_n[sp - 1] = True
                elif op == B_DIV:
                    stack_v[sp - 1] = lv / rv
                else:
                    stack_v[sp - 1] = np.fmod(lv, rv)
            elif op == B_EQ:
                stack_v[sp - 1] = 1.0 if lv == rv else 0.0
            elif op == B_NE:
                stack_v[sp - 1] = 1.0 if lv != rv else 0.0
            elif op == B_LT:
                stack_v[sp - 1] = 1.0 if lv < rv else 0.0
            elif op == B_LE:
                stack_v[sp - 1] = 1.0 if lv <= rv else 0.0
            elif op == B_GT:
                stack_v[sp - 1] = 1.0 if lv > rv else 0.0
            else:
                stack_v[sp - 1] = 1.0 if lv >= rv else 0.0
    return (not stack_n[0]) and stack_v[0] != 0.0


@njit(cache=True)
def _check(c: int, ev: int, regs: Any, regn: Any, row: int, stamp: int, av: Any, ast: Any,
           nfa: Any, cond: Any, stack_v: Any, stack_n: Any, bstack: Any) -> bool:
    """Evaluate transition condition program ``c``; atoms are computed once per ``stamp``."""
    cp_start = nfa[7]
    cp_op = nfa[8]
    cp_arg = nfa[9]
    atom_kind = cond[0]
    atom_arg = cond[1]
    static = cond[2]
    sp = 0
    for i in range(cp_start[c], cp_start[c + 1]):
        op = cp_op[i]
        if op == K_TRUE:
            bstack[sp] = True
            sp += 1
        elif op == K_FALSE:
            bstack[sp] = False
            sp += 1
        elif op == K_ATOM:
            k = cp_arg[i]
            if ast[k] != stamp:
                if atom_kind[k] == A_STATIC:
                    av[k] = static[atom_arg[k], ev] != 0
                else:
                    av[k] = _eval_prog(atom_arg[k], ev, regs, regn, row, cond, stack_v, stack_n)
                ast[k] = stamp
            bstack[sp] = av[k]
            sp += 1
        elif op == K_NOT:
            bstack[sp - 1] = not bstack[sp - 1]
        elif op == K_AND:
            sp -= 1
            bstack[sp - 1] = bstack[sp - 1] and bstack[sp]
        else:
            sp -= 1
            bstack[sp - 1] = bstack[sp - 1] or bstack[sp]
    return bool(bstack[0])


@njit(cache=True)
def _apply_updates(step: int, ev: int, regs: Any, regn: Any, row: int, cond: Any) -> None:
    """Update register row ``row`` for a run that takes event ``ev`` for ``step``."""
    upd_start = cond[13]
    upd_op = cond[14]
    upd_a = cond[15]
    upd_b = cond[16]
    upd_c = cond[17]
    upd_d = cond[18]
    cols = cond[11]
    cols_null = cond[12]
    for u in range(upd_start[step], upd_start[step + 1]):
        op = upd_op[u]
        a = upd_a[u]
        b = upd_b[u]
        c = upd_c[u]
        if op == U_FIRST:
            n = int(regs[row, upd_d[u]])
            if n < b:
                regs[row, a + n] = cols[c, ev]
                regn[row, a + n] = 1 if cols_null[c, ev] else 0
        elif op == U_RING:
            for j in range(b - 1, 0, -1):
                regs[row, a + j] = regs[row, a + j - 1]
                regn[row, a + j] = regn[row, a + j - 1]
            regs[row, a] = cols[c, ev]
            regn[row, a] = 1 if cols_null[c, ev] else 0
        elif op == U_AGG:
            if not cols_null[c, ev]:
                v = cols[c, ev]
                nn = regs[row, a + 1]
                if nn == 0 or v < regs[row, a + 2]:
                    regs[row, a + 2] = v
                if nn == 0 or v > regs[row, a + 3]:
                    regs[row, a + 3] = v
                regs[row, a] += v
                regs[row, a + 1] = nn + 1
        else:
            regs[row, a] += 1.0


@njit(cache=True)
def _path_less(x: int, y: int, nodes: Any) -> bool:
    """Whether the event sequence ending at node ``x`` sorts before the one ending at ``y``."""
    lx = 0
    n = x
    while n >= 0:
        lx += 1
        n = nodes[n, N_PARENT]
    ly = 0
    n = y
    while n >= 0:
        ly += 1
        n = nodes[n, N_PARENT]
    px = np.empty(lx, dtype=np.int64)
    py = np.empty(ly, dtype=np.int64)
    n = x
    for i in range(lx - 1, -1, -1):
        px[i] = nodes[n, N_ORD]
        n = nodes[n, N_PARENT]
    n = y
    for i in range(ly - 1, -1, -1):
        py[i] = nodes[n, N_ORD]
        n = nodes[n, N_PARENT]
    for i in range(min(lx, ly)):
        if px[i] != py[i]:
            return px[i] < py[i]
    return lx < ly


@njit(cache=True)
def _insert_completed(q: Any, nq: int, node: int, sord: int, nodes: Any, skip_mode: int,
                      skip_step: int) -> tuple[Any, int]:
    """Insert a completed match into ``q`` (sorted by start, then event sequence)."""
    pf = -1
    pl = -1
    if skip_mode == SKIP_FIRST or skip_mode == SKIP_LAST:
        n = node
        while n >= 0:
            if nodes[n, N_STEP] == skip_step:
                if pl < 0:
                    pl = nodes[n, N_ORD]
                pf = nodes[n, N_ORD]
            n = nodes[n, N_PARENT]
    q = _grow_i64(q, nq + 1)
    pos = nq
    while pos > 0:
        prev = pos - 1
        if q[prev, Q_SORD] < sord:
            break
        if q[prev, Q_SORD] == sord and not _path_less(node, q[prev, Q_NODE], nodes):
            break
        pos -= 1
    for i in range(nq, pos, -1):
        for f in range(5):
            q[i, f] = q[i - 1, f]
    q[pos, Q_NODE] = node
    q[pos, Q_SORD] = sord
    q[pos, Q_LORD] = nodes[node, N_ORD]
    q[pos, Q_PF] = pf
    q[pos, Q_PL] = pl
    return q, nq + 1


@njit(cache=True)
def _drop_prefix_runs(runs: Any, regs: Any, regn: Any, n: int, count: int) -> int:
    """Remove the first ``count`` runs (keeping the order of the rest)."""
    if count <= 0:
        return n
    for i in range(count, n):
        runs[i - count] = runs[i]
        regs[i - count] = regs[i]
        regn[i - count] = regn[i]
    return n - count


@njit(cache=True)
def _drop_prefix_q(q: Any, n: int, count: int) -> int:
    if count <= 0:
        return n
    for i in range(count, n):
        q[i - count] = q[i]
    return n - count


@njit(cache=True)
def _emit_matches(key: int, q: Any, nq: int, runs: Any, regs: Any, regn: Any, nr: int,
                  skip_mode: int, em: Any, nem: int) -> tuple[int, int, Any, int]:
    """Flink's processMatchesAccordingToSkipStrategy for one key.

    Emits completed matches from the head of ``q`` while no open run started earlier (under a
    skip strategy), pruning runs and completed matches after each. Returns the new sizes.
    """
    while nq > 0:
        if skip_mode != SKIP_NO and nr > 0 and q[0, Q_SORD] > runs[0, R_SORD]:
            break
        node = q[0, Q_NODE]
        sord = q[0, Q_SORD]
        lord = q[0, Q_LORD]
        pf = q[0, Q_PF]
        pl = q[0, Q_PL]
        nq = _drop_prefix_q(q, nq, 1)
        em = _grow_i64(em, nem + 1)
        em[nem, 0] = key
        em[nem, 1] = node
        nem += 1
        if skip_mode == SKIP_NO:
            continue
        pid = -1
        inclusive = True
        if skip_mode == SKIP_NEXT:
            pid = sord
        elif skip_mode == SKIP_PAST:
            pid = lord
        elif skip_mode == SKIP_FIRST:
            pid = pf
            inclusive = False
        else:
            pid = pl
            inclusive = False
        if pid < 0:
            continue
        cut = 0
        while cut < nr and (runs[cut, R_SORD] < pid or (inclusive and runs[cut, R_SORD] == pid)):
            cut += 1
        nr = _drop_prefix_runs(runs, regs, regn, nr, cut)
        cut = 0
        while cut < nq and (q[cut, Q_SORD] < pid or (inclusive and q[cut, Q_SORD] == pid)):
            cut += 1
        nq = _drop_prefix_q(q, nq, cut)
    return nq, nr, em, nem


@njit(cache=True)
def _advance_time(key: int, t: int, within: int, runs: Any, regs: Any, regn: Any, nr: int,
                  q: Any, nq: int, nodes: Any, nfa: Any, skip_mode: int, skip_step: int,
                  em: Any, nem: int, to: Any, nto: int
                  ) -> tuple[int, Any, int, Any, int, Any, int]:
    """Flink's advanceTime: expire runs with ``t - start >= within`` (a prefix of the list)."""
    st_kind = nfa[0]
    cut = 0
    while cut < nr and t - runs[cut, R_STS] >= within:
        cut += 1
    if cut == 0:
        return nr, q, nq, em, nem, to, nto
    for r in range(cut):
        if st_kind[runs[r, R_STATE]] == PENDING:
            q, nq = _insert_completed(q, nq, runs[r, R_NODE], runs[r, R_SORD], nodes, skip_mode,
                                      skip_step)
        else:
            to = _grow_i64(to, nto + 1)
            to[nto, 0] = key
            to[nto, 1] = runs[r, R_NODE]
            to[nto, 2] = runs[r, R_STS]
            nto += 1
    nr = _drop_prefix_runs(runs, regs, regn, nr, cut)
    nq, nr, em, nem = _emit_matches(key, q, nq, runs, regs, regn, nr, skip_mode, em, nem)
    return nr, q, nq, em, nem, to, nto


@njit(cache=True)
def _final_after_proceed(s: int, ev: int, regs: Any, regn: Any, row: int, stamp: int, av: Any,
                         ast: Any, nfa: Any, cond: Any, stack_v: Any, stack_n: Any, bstack: Any,
                         sstack: Any) -> bool:
    """Flink's findFinalStateAfterProceed: a PROCEED path from ``s`` reaches the final state."""
    st_kind = nfa[0]
    tr_start = nfa[2]
    tr_action = nfa[4]
    tr_target = nfa[5]
    tr_cond = nfa[6]
    sp = 0
    sstack[sp] = s
    sp += 1
    while sp > 0:
        sp -= 1
        cur = sstack[sp]
        for tr in range(tr_start[cur], tr_start[cur + 1]):
            if tr_action[tr] != PROCEED:
                continue
            if not _check(tr_cond[tr], ev, regs, regn, row, stamp, av, ast, nfa, cond, stack_v,
                          stack_n, bstack):
                continue
            if st_kind[tr_target[tr]] == FINAL:
                return True
            sstack[sp] = tr_target[tr]
            sp += 1
    return False


@njit(cache=True)
def run_chunk(nfa: Any, cond: Any, cfg: Any, ev_key: Any, ev_ts: Any, ev_ref: Any,
              s_runs: Any, s_regs: Any, s_regn: Any, s_comp: Any,
              nodes: Any, n_nodes: int, key_ord: Any) -> Any:
    """Feed sorted events to every key's NFA, then advance time to the watermark.

    Args:
        nfa: (state kind, state step, transition start per state, transition source, action,
            target, condition program, program start, program op, program arg, start state).
        cond: (atom kind, atom arg, static matrix, bytecode start/op/a/b/c/d, constants,
            constant nulls, columns, column nulls, update start/op/a/b/c/d, register count).
        cfg: (within µs or -1, skip mode, skip step, watermark µs, apply watermark (0/1)).
        ev_key, ev_ts, ev_ref: key number, time (µs) and event-table reference of each event,
            sorted by key, time and arrival.
        s_runs, s_regs, s_regn: open runs (key, state, node, start time, start ordinal) sorted by
            key and start, with their registers.
        s_comp: completed matches held back by the skip strategy (key, node, start ordinal, last
            ordinal, first / last ordinal of the skip step).
        nodes, n_nodes: the node pool (parent, step, event reference, ordinal) and its size.
        key_ord: next event ordinal per key (updated in place).

    Returns:
        (runs, regs, regn, completed, nodes, n_nodes, emitted (key, tip node),
        timed out (key, tip node, start time)).
    """
    st_kind = nfa[0]
    st_step = nfa[1]
    tr_start = nfa[2]
    tr_src = nfa[3]
    tr_action = nfa[4]
    tr_target = nfa[5]
    tr_cond = nfa[6]
    start_state = nfa[10]
    n_regs = cond[19]
    n_atoms = cond[0].shape[0]
    n_steps_upd = cond[13].shape[0] - 2  # the last update range is the "all events" one
    within = cfg[0]
    skip_mode = cfg[1]
    skip_step = cfg[2]
    watermark = cfg[3]
    apply_wm = cfg[4]

    n_trans = tr_target.shape[0]
    rw = max(n_regs, 1)
    runs_a = np.empty((64, 4), dtype=np.int64)
    regs_a = np.zeros((64, rw), dtype=np.float64)
    regn_a = np.zeros((64, rw), dtype=np.uint8)
    runs_b = np.empty((64, 4), dtype=np.int64)
    regs_b = np.zeros((64, rw), dtype=np.float64)
    regn_b = np.zeros((64, rw), dtype=np.uint8)
    zregs = np.zeros((1, rw), dtype=np.float64)
    zregn = np.zeros((1, rw), dtype=np.uint8)
    q = np.empty((16, 5), dtype=np.int64)
    av = np.zeros(max(n_atoms, 1), dtype=np.bool_)
    ast = np.full(max(n_atoms, 1), -1, dtype=np.int64)
    stack_v = np.empty(cond[4].shape[0] + 1, dtype=np.float64)
    stack_n = np.empty(cond[4].shape[0] + 1, dtype=np.bool_)
    bstack = np.empty(nfa[8].shape[0] + 1, dtype=np.bool_)
    sstack = np.empty(4 * n_trans + 16, dtype=np.int64)
    edges = np.empty(4 * n_trans + 16, dtype=np.int64)

    out_runs = np.empty((max(s_runs.shape[0], 16), 5), dtype=np.int64)
    out_regs = np.empty((max(s_runs.shape[0], 16), rw), dtype=np.float64)
    out_regn = np.empty((max(s_runs.shape[0], 16), rw), dtype=np.uint8)
    out_comp = np.empty((max(s_comp.shape[0], 16), 6), dtype=np.int64)
    n_out = 0
    n_outc = 0
    em = np.empty((64, 2), dtype=np.int64)
    nem = 0
    to = np.empty((16, 3), dtype=np.int64)
    nto = 0
    stamp = 0

    n_ev = ev_key.shape[0]
    n_s = s_runs.shape[0]
    n_c = s_comp.shape[0]
    i = 0
    j = 0
    jc = 0
    big = np.int64(2) ** 62
    while i < n_ev or j < n_s or jc < n_c:
        key = big
        if i < n_ev:
            key = ev_key[i]
        if j < n_s and s_runs[j, 0] < key:
            key = s_runs[j, 0]
        if jc < n_c and s_comp[jc, 0] < key:
            key = s_comp[jc, 0]
        na = 0
        while j < n_s and s_runs[j, 0] == key:
            runs_a = _grow_i64(runs_a, na + 1)
            regs_a = _grow_f64(regs_a, na + 1)
            regn_a = _grow_u8(regn_a, na + 1)
            for f in range(4):
                runs_a[na, f] = s_runs[j, f + 1]
            for f in range(rw):
                regs_a[na, f] = s_regs[j, f]
                regn_a[na, f] = s_regn[j, f]
            na += 1
            j += 1
        nq = 0
        while jc < n_c and s_comp[jc, 0] == key:
            q = _grow_i64(q, nq + 1)
            for f in range(5):
                q[nq, f] = s_comp[jc, f + 1]
            nq += 1
            jc += 1
        ordv = key_ord[key]
        while i < n_ev and ev_key[i] == key:
            t = ev_ts[i]
            ref = ev_ref[i]
            if within >= 0 and na > 0 and t - runs_a[0, R_STS] >= within:
                na, q, nq, em, nem, to, nto = _advance_time(
                    key, t, within, runs_a, regs_a, regn_a, na, q, nq, nodes, nfa, skip_mode,
                    skip_step, em, nem, to, nto)
            nb = 0
            for r in range(na + 1):
                is_start = r == na
                if is_start:
                    st = start_state
                    node = -1
                    sts = t
                    sord = ordv
                    rregs = zregs
                    rregn = zregn
                    rrow = 0
                else:
                    st = runs_a[r, R_STATE]
                    node = runs_a[r, R_NODE]
                    sts = runs_a[r, R_STS]
                    sord = runs_a[r, R_SORD]
                    rregs = regs_a
                    rregn = regn_a
                    rrow = r
                stamp += 1
                # Flink's createDecisionGraph: TAKE and IGNORE edges reachable over PROCEED.
                ne = 0
                sp = 0
                sstack[0] = st
                sp = 1
                while sp > 0:
                    sp -= 1
                    cur = sstack[sp]
                    for tr in range(tr_start[cur], tr_start[cur + 1]):
                        if not _check(tr_cond[tr], i, rregs, rregn, rrow, stamp, av, ast, nfa,
                                      cond, stack_v, stack_n, bstack):
                            continue
                        if tr_action[tr] == PROCEED:
                            if sp >= sstack.shape[0]:
                                sstack = _grow_1d(sstack, sp + 1)
                            sstack[sp] = tr_target[tr]
                            sp += 1
                        else:
                            if ne >= edges.shape[0]:
                                edges = _grow_1d(edges, ne + 1)
                            edges[ne] = tr
                            ne += 1
                if ne == 0:
                    continue
                base = nb
                discard = False
                for x in range(ne):
                    tr = edges[x]
                    tgt = tr_target[tr]
                    tk = st_kind[tgt]
                    if tr_action[tr] == IGNORE:
                        if is_start:
                            continue
                        if tk == FINAL:
                            q, nq = _insert_completed(q, nq, node, sord, nodes, skip_mode,
                                                      skip_step)
                        elif tk == STOP:
                            discard = True
                        else:
                            runs_b = _grow_i64(runs_b, nb + 1)
                            regs_b = _grow_f64(regs_b, nb + 1)
                            regn_b = _grow_u8(regn_b, nb + 1)
                            runs_b[nb, R_STATE] = tgt
                            runs_b[nb, R_NODE] = node
                            runs_b[nb, R_STS] = sts
                            runs_b[nb, R_SORD] = sord
                            for f in range(rw):
                                regs_b[nb, f] = rregs[rrow, f]
                                regn_b[nb, f] = rregn[rrow, f]
                            nb += 1
                        continue
                    # TAKE: a new node in the shared buffer, named by the source state's step.
                    step = st_step[tr_src[tr]]
                    if n_nodes >= nodes.shape[0]:
                        nodes = _grow_i64(nodes, n_nodes + 1)
                    nodes[n_nodes, N_PARENT] = node
                    nodes[n_nodes, N_STEP] = step
                    nodes[n_nodes, N_EV] = ref
                    nodes[n_nodes, N_ORD] = ordv
                    new_node = n_nodes
                    n_nodes += 1
                    if tk == FINAL:
                        q, nq = _insert_completed(q, nq, new_node, sord, nodes, skip_mode,
                                                  skip_step)
                        continue
                    if tk == STOP:
                        discard = True
                        continue
                    runs_b = _grow_i64(runs_b, nb + 1)
                    regs_b = _grow_f64(regs_b, nb + 1)
                    regn_b = _grow_u8(regn_b, nb + 1)
                    runs_b[nb, R_STATE] = tgt
                    runs_b[nb, R_NODE] = new_node
                    runs_b[nb, R_STS] = sts
                    runs_b[nb, R_SORD] = sord
                    if n_regs > 0:
                        for f in range(rw):
                            regs_b[nb, f] = rregs[rrow, f]
                            regn_b[nb, f] = rregn[rrow, f]
                        _apply_updates(step, i, regs_b, regn_b, nb, cond)
                        _apply_updates(n_steps_upd, i, regs_b, regn_b, nb, cond)
                    nb += 1
                    if _final_after_proceed(tgt, i, rregs, rregn, rrow, stamp, av, ast, nfa,
                                            cond, stack_v, stack_n, bstack, sstack):
                        q, nq = _insert_completed(q, nq, new_node, sord, nodes, skip_mode,
                                                  skip_step)
                if discard:
                    nb = base
            if nq > 0:
                nq, nb, em, nem = _emit_matches(key, q, nq, runs_b, regs_b, regn_b, nb,
                                                skip_mode, em, nem)
            runs_a, runs_b = runs_b, runs_a
            regs_a, regs_b = regs_b, regs_a
            regn_a, regn_b = regn_b, regn_a
            na = nb
            ordv += 1
            i += 1
        if apply_wm != 0 and within >= 0 and na > 0:
            na, q, nq, em, nem, to, nto = _advance_time(
                key, watermark, within, runs_a, regs_a, regn_a, na, q, nq, nodes, nfa,
                skip_mode, skip_step, em, nem, to, nto)
        key_ord[key] = ordv
        out_runs = _grow_i64(out_runs, n_out + na)
        out_regs = _grow_f64(out_regs, n_out + na)
        out_regn = _grow_u8(out_regn, n_out + na)
        for r in range(na):
            out_runs[n_out, 0] = key
            for f in range(4):
                out_runs[n_out, f + 1] = runs_a[r, f]
            for f in range(rw):
                out_regs[n_out, f] = regs_a[r, f]
                out_regn[n_out, f] = regn_a[r, f]
            n_out += 1
        out_comp = _grow_i64(out_comp, n_outc + nq)
        for r in range(nq):
            out_comp[n_outc, 0] = key
            for f in range(5):
                out_comp[n_outc, f + 1] = q[r, f]
            n_outc += 1
    return (out_runs[:n_out], out_regs[:n_out], out_regn[:n_out], out_comp[:n_outc],
            nodes, n_nodes, em[:nem], to[:nto])


@njit(cache=True)
def materialize(nodes: Any, tips: Any) -> tuple[Any, Any, Any]:
    """The event references and steps of each chain ending at ``tips``, first event first."""
    offsets = np.zeros(tips.shape[0] + 1, dtype=np.int64)
    for m in range(tips.shape[0]):
        length = 0
        n = tips[m]
        while n >= 0:
            length += 1
            n = nodes[n, N_PARENT]
        offsets[m + 1] = offsets[m] + length
    flat_ev = np.empty(offsets[-1], dtype=np.int64)
    flat_step = np.empty(offsets[-1], dtype=np.int64)
    for m in range(tips.shape[0]):
        pos = offsets[m + 1] - 1
        n = tips[m]
        while n >= 0:
            flat_ev[pos] = nodes[n, N_EV]
            flat_step[pos] = nodes[n, N_STEP]
            pos -= 1
            n = nodes[n, N_PARENT]
    return offsets, flat_ev, flat_step


@njit(cache=True)
def compact_nodes(nodes: Any, n_nodes: int, roots: Any) -> tuple[Any, Any]:
    """Keep the nodes reachable from ``roots``; returns (new pool, old index -> new index)."""
    live = np.zeros(n_nodes, dtype=np.bool_)
    for r in range(roots.shape[0]):
        n = roots[r]
        while n >= 0 and not live[n]:
            live[n] = True
            n = nodes[n, N_PARENT]
    remap = np.full(n_nodes, -1, dtype=np.int64)
    count = 0
    for n in range(n_nodes):
        if live[n]:
            remap[n] = count
            count += 1
    out = np.empty((max(count, 16), 4), dtype=np.int64)
    for n in range(n_nodes):
        if live[n]:
            k = remap[n]
            parent = nodes[n, N_PARENT]
            out[k, N_PARENT] = -1 if parent < 0 else remap[parent]
            out[k, N_STEP] = nodes[n, N_STEP]
            out[k, N_EV] = nodes[n, N_EV]
            out[k, N_ORD] = nodes[n, N_ORD]
    return out[:count], remap
