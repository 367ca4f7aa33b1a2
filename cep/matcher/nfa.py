"""The compiled runtime of ``sequence`` patterns: Flink CEP's NFA over sorted, keyed events.

``cep.matcher.sequence`` compiles a pattern into the state graph Flink's ``NFACompiler`` builds
(states with TAKE / IGNORE / PROCEED transitions guarded by boolean formulas over *atoms*, one
atom per step condition) and hands it here with the events sorted by key and time. This module
is the per-event loop of Flink's ``NFA`` (``advanceTime``, ``doProcess``, ``computeNextStates``,
``processMatchesAccordingToSkipStrategy``), compiled with numba:

* Flink's decision graph (the TAKE / IGNORE edges a run follows on an event, reached over
  PROCEED edges, and whether a TAKE also reaches the final state over PROCEED edges) depends
  only on the values of the atoms the run's state can see. It is precomputed per state for
  every combination of those atoms, so the loop evaluates a state's atoms and looks the edges up.
* A *run* (Flink: computation state) is ``(state, node, start time, start ordinal)`` plus a row
  of registers. Runs share their prefixes through a node pool ``(parent, step, event, ordinal)``
  (Flink's shared buffer); a match is the chain from its tip node to the root.
* Per key the open runs are kept in start order, so window expiry and the skip strategies only
  ever drop a prefix of the list, and the earliest open run is the first one.
* Atoms that read only the current event arrive as a precomputed matrix (event-major); the
  others (iterative conditions) run as stack bytecode over the event's precomputed columns and
  the run's registers (last / first values, sums, counts of the events the run has taken per
  step), and only where the atom's row-local conjuncts (its *guard*) hold.

Everything the runtime keeps between calls is plain arrays, so the caller can save and restore
it. Buffers have fixed sizes; the caller retries with a larger one when the kernel says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# NFA state kinds.
NORMAL, START, FINAL, STOP, PENDING = 0, 1, 2, 3, 4
# Transition actions.
TAKE, IGNORE, PROCEED = 0, 1, 2
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

# Kernel status: OK, or which fixed-size buffer was too small.
OK, FULL_RUNS, FULL_Q, FULL_EMITTED, FULL_TIMED_OUT, FULL_NODES, FULL_OUT_RUNS, FULL_OUT_COMP = (
    0, 1, 2, 3, 4, 5, 6, 7)

# Columns of the run rows (int64) and of the completed-match rows.
R_STATE, R_NODE, R_STS, R_SORD = 0, 1, 2, 3
Q_NODE, Q_SORD, Q_LORD, Q_PF, Q_PL = 0, 1, 2, 3, 4
# Columns of the node pool.
N_PARENT, N_STEP, N_EV, N_ORD = 0, 1, 2, 3


@njit(cache=True)
def _eval_prog(prog: int, ev: int, regs: Any, regn: Any, h: int, row: int, bc_start: Any,
               bc_op: Any,
               bc_a: Any, bc_b: Any, bc_c: Any, bc_d: Any, consts: Any, consts_null: Any,
               cols: Any, cols_null: Any, stack_v: Any, stack_n: Any) -> bool:
    """Run iterative-condition bytecode ``prog`` for event ``ev`` against registers ``[h, row]``."""
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
            stack_v[sp] = cols[ev, a]
            stack_n[sp] = cols_null[ev, a]
            sp += 1
        elif op in (B_LAST, B_FIRST, B_FIRSTSELF):
            count = regs[h, row, c]
            if count > b:
                stack_v[sp] = regs[h, row, a + b]
                stack_n[sp] = regn[h, row, a + b] != 0
            elif op == B_FIRSTSELF and count == b:
                stack_v[sp] = cols[ev, d]
                stack_n[sp] = cols_null[ev, d]
            else:
                stack_v[sp] = 0.0
                stack_n[sp] = True
            sp += 1
        elif op == B_AGG:
            total = regs[h, row, b]
            nn = regs[h, row, b + 1]
            low = regs[h, row, b + 2]
            high = regs[h, row, b + 3]
            if d != 0 and not cols_null[ev, c]:
                v = cols[ev, c]
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
            stack_v[sp] = regs[h, row, a] + d
            stack_n[sp] = False
            sp += 1
        elif op in (B_NEG, B_NOT, B_ISNULL, B_ISNOTNULL, B_ABS):
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
            elif op in (B_DIV, B_MOD):
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
def _apply_updates(step: int, ev: int, regs: Any, regn: Any, h: int, row: int, upd_start: Any,
                   upd_op: Any, upd_a: Any, upd_b: Any, upd_c: Any, upd_d: Any, cols: Any,
                   cols_null: Any) -> None:
    """Update registers ``[h, row]`` of a run that takes event ``ev`` for ``step``."""
    for u in range(upd_start[step], upd_start[step + 1]):
        op = upd_op[u]
        a = upd_a[u]
        b = upd_b[u]
        c = upd_c[u]
        if op == U_FIRST:
            n = int(regs[h, row, upd_d[u]])
            if n < b:
                regs[h, row, a + n] = cols[ev, c]
                regn[h, row, a + n] = 1 if cols_null[ev, c] else 0
        elif op == U_RING:
            for j in range(b - 1, 0, -1):
                regs[h, row, a + j] = regs[h, row, a + j - 1]
                regn[h, row, a + j] = regn[h, row, a + j - 1]
            regs[h, row, a] = cols[ev, c]
            regn[h, row, a] = 1 if cols_null[ev, c] else 0
        elif op == U_AGG:
            if not cols_null[ev, c]:
                v = cols[ev, c]
                nn = regs[h, row, a + 1]
                if nn == 0 or v < regs[h, row, a + 2]:
                    regs[h, row, a + 2] = v
                if nn == 0 or v > regs[h, row, a + 3]:
                    regs[h, row, a + 3] = v
                regs[h, row, a] += v
                regs[h, row, a + 1] = nn + 1
        else:
            regs[h, row, a] += 1.0


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
            return bool(px[i] < py[i])
    return lx < ly


@njit(cache=True)
def _add_completed(q: Any, nq: int, node: int, sord: int, nodes: Any, skip_mode: int,
                   skip_step: int) -> int:
    """Append a completed match to ``q``; :func:`_order_completed` sorts it in later.

    The caller makes room for one more row.
    """
    pf = -1
    pl = -1
    if skip_mode in (SKIP_FIRST, SKIP_LAST):
        n = node
        while n >= 0:
            if nodes[n, N_STEP] == skip_step:
                if pl < 0:
                    pl = nodes[n, N_ORD]
                pf = nodes[n, N_ORD]
            n = nodes[n, N_PARENT]
    q[nq, Q_NODE] = node
    q[nq, Q_SORD] = sord
    q[nq, Q_LORD] = nodes[node, N_ORD]
    q[nq, Q_PF] = pf
    q[nq, Q_PL] = pl
    return nq + 1


@njit(cache=True)
def _key_less(a: int, b: int, sords: Any, offsets: Any, flat: Any) -> bool:
    """Whether completed match ``a`` sorts before ``b``: by start, then event sequence."""
    if sords[a] != sords[b]:
        return bool(sords[a] < sords[b])
    la = offsets[a + 1] - offsets[a]
    lb = offsets[b + 1] - offsets[b]
    for i in range(min(la, lb)):
        x = flat[offsets[a] + i]
        y = flat[offsets[b] + i]
        if x != y:
            return bool(x < y)
    return bool(la < lb)


@njit(cache=True)
def _order_completed(q: Any, n0: int, nq: int, nodes: Any) -> None:
    """Sort rows ``n0:nq`` of ``q`` (appended in completion order) into the sorted ``0:n0``.

    The order is Flink's (SEMANTICS.md §2): by start ordinal, then the event sequence
    (ordinals from the first event; a prefix first). Ties keep the order rows were added in,
    the held-back rows first, as inserting one row at a time would. The new rows' event
    sequences are written out once and sorted by a stable merge sort (O(k log k) comparisons
    for k rows instead of O(k²)); the held-back rows are merged from the back, so only those
    that sort after a new row are compared or moved.
    """
    k = nq - n0
    # Usually the new rows already follow each other and the held-back rows by start.
    first = max(n0, 1)
    while first < nq and q[first - 1, Q_SORD] < q[first, Q_SORD]:
        first += 1
    if first >= nq:
        return
    sords = np.empty(k, dtype=np.int64)
    offsets = np.zeros(k + 1, dtype=np.int64)
    for m in range(k):
        sords[m] = q[n0 + m, Q_SORD]
        length = 0
        n = q[n0 + m, Q_NODE]
        while n >= 0:
            length += 1
            n = nodes[n, N_PARENT]
        offsets[m + 1] = offsets[m] + length
    flat = np.empty(offsets[k], dtype=np.int64)
    for m in range(k):
        pos = offsets[m + 1] - 1
        n = q[n0 + m, Q_NODE]
        while n >= 0:
            flat[pos] = nodes[n, N_ORD]
            pos -= 1
            n = nodes[n, N_PARENT]
    # Bottom-up merge sort of the row numbers; a run pair already in order is left alone,
    # so rows completed in order (the common case) cost one comparison each.
    idx = np.arange(k, dtype=np.int64)
    tmp = np.empty(k, dtype=np.int64)
    width = 1
    while width < k:
        for lo in range(0, k - width, 2 * width):
            mid = lo + width
            hi = min(lo + 2 * width, k)
            if not _key_less(idx[mid], idx[mid - 1], sords, offsets, flat):
                continue
            a = lo
            b = mid
            w = lo
            while a < mid and b < hi:
                if _key_less(idx[b], idx[a], sords, offsets, flat):
                    tmp[w] = idx[b]
                    b += 1
                else:
                    tmp[w] = idx[a]
                    a += 1
                w += 1
            while a < mid:
                tmp[w] = idx[a]
                a += 1
                w += 1
            while b < hi:
                tmp[w] = idx[b]
                b += 1
                w += 1
            for x in range(lo, hi):
                idx[x] = tmp[x]
        width *= 2
    new = np.empty((k, 5), dtype=np.int64)
    for m in range(k):
        for f in range(5):
            new[m, f] = q[n0 + idx[m], f]
    # Merge from the back: a held-back row moves only past new rows that sort before it.
    a = n0 - 1
    b = k - 1
    w = nq - 1
    while b >= 0:
        if a >= 0 and (new[b, Q_SORD] < q[a, Q_SORD]
                       or (new[b, Q_SORD] == q[a, Q_SORD]
                           and _path_less(new[b, Q_NODE], q[a, Q_NODE], nodes))):
            for f in range(5):
                q[w, f] = q[a, f]
            a -= 1
        else:
            for f in range(5):
                q[w, f] = new[b, f]
            b -= 1
        w -= 1


@njit(cache=True)
def _drop_runs(runs: Any, regs: Any, regn: Any, h: int, n: int, count: int) -> int:
    """Remove the first ``count`` runs of buffer half ``h`` (keeping the order of the rest)."""
    if count <= 0:
        return n
    for i in range(count, n):
        for f in range(4):
            runs[h, i - count, f] = runs[h, i, f]
        for f in range(regs.shape[2]):
            regs[h, i - count + 1, f] = regs[h, i + 1, f]
            regn[h, i - count + 1, f] = regn[h, i + 1, f]
    return n - count


@njit(cache=True)
def _drop_q(q: Any, n: int, count: int) -> int:
    if count <= 0:
        return n
    for i in range(count, n):
        for f in range(5):
            q[i - count, f] = q[i, f]
    return n - count


@njit(cache=True)
def _emit_matches(key: Any, q: Any, nq: int, runs: Any, regs: Any, regn: Any, h: int, nr: int,
                  skip_mode: int, em: Any, nem: int) -> tuple[int, int, int]:
    """Flink's processMatchesAccordingToSkipStrategy for one key.

    Emits completed matches from the head of ``q`` while no open run (half ``h`` of the run
    buffer) started earlier, under a skip strategy; each emitted match prunes runs and completed
    matches. Emitted and pruned rows are heads of the lists (both are in start order), so they
    are counted as they go and removed once at the end. The caller makes room for ``nq`` more
    emitted rows. Returns (nq, nr, nem).
    """
    qh = 0  # rows of q emitted or pruned so far
    rh = 0  # runs pruned so far
    while qh < nq:
        if skip_mode != SKIP_NO and rh < nr and q[qh, Q_SORD] > runs[h, rh, R_SORD]:
            break
        node = q[qh, Q_NODE]
        sord = q[qh, Q_SORD]
        lord = q[qh, Q_LORD]
        pf = q[qh, Q_PF]
        pl = q[qh, Q_PL]
        qh += 1
        em[nem, 0] = key
        em[nem, 1] = node
        nem += 1
        if skip_mode == SKIP_NO:
            continue
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
        while rh < nr and (runs[h, rh, R_SORD] < pid
                           or (inclusive and runs[h, rh, R_SORD] == pid)):
            rh += 1
        while qh < nq and (q[qh, Q_SORD] < pid or (inclusive and q[qh, Q_SORD] == pid)):
            qh += 1
    nr = _drop_runs(runs, regs, regn, h, nr, rh)
    nq = _drop_q(q, nq, qh)
    return nq, nr, nem


@njit(cache=True)
def _advance_time(key: Any, t: Any, within: int, runs: Any, regs: Any, regn: Any, h: int,
                  nr: int, q: Any, nq: int, nodes: Any, st_kind: Any, skip_mode: int,
                  skip_step: int, em: Any, nem: int, to: Any, nto: int
                  ) -> tuple[int, int, int, int]:
    """Flink's advanceTime: expire runs with ``t - start >= within`` (a prefix of the list).

    The caller makes room for ``nr`` more completed and timed-out rows and ``nq + nr`` more
    emitted rows. Returns (nr, nq, nem, nto).
    """
    cut = 0
    while cut < nr and t - runs[h, cut, R_STS] >= within:
        cut += 1
    if cut == 0:
        return nr, nq, nem, nto
    nq0 = nq
    for r in range(cut):
        if st_kind[runs[h, r, R_STATE]] == PENDING:
            nq = _add_completed(q, nq, runs[h, r, R_NODE], runs[h, r, R_SORD], nodes,
                                skip_mode, skip_step)
        else:
            to[nto, 0] = key
            to[nto, 1] = runs[h, r, R_NODE]
            to[nto, 2] = runs[h, r, R_STS]
            nto += 1
    if nq > nq0:
        _order_completed(q, nq0, nq, nodes)
    nr = _drop_runs(runs, regs, regn, h, nr, cut)
    nq, nr, nem = _emit_matches(key, q, nq, runs, regs, regn, h, nr, skip_mode, em, nem)
    return nr, nq, nem, nto


@njit(cache=True)
def _room(nq: int, cap_q: int, nem: int, cap_em: int, nto: int, cap_to: int) -> int:
    if nq > cap_q:
        return FULL_Q
    if nem > cap_em:
        return FULL_EMITTED
    if nto > cap_to:
        return FULL_TIMED_OUT
    return OK


@njit(cache=True)
def _full(status: int, out_runs: Any, out_regs: Any, out_regn: Any, out_comp: Any, em: Any,
          to: Any, ords: Any) -> Any:
    return (status, out_runs[:0], out_regs[:0], out_regn[:0], out_comp[:0], 0, em[:0], to[:0],
            ords)


@njit(cache=True)
def run_chunk(nfa: Any, cond: Any, cfg: Any, ev_key: Any, ev_ts: Any, ev_ref: Any,
              s_runs: Any, s_regs: Any, s_regn: Any, s_comp: Any,
              nodes: Any, n_nodes: int, key_ord: Any, caps: Any) -> Any:
    """Feed sorted events to every key's NFA, then advance every key's time to the watermark.

    Buffers have fixed sizes (``caps`` and ``nodes``): arrays that could be reallocated inside
    the loop cost reference counting on every iteration. When one is too small the call stops
    with a status naming it; the inputs are left as they were, so the caller enlarges that
    buffer and calls again.

    Args:
        nfa: (state kind, state step, atoms-seen start per state, atoms seen, decision table
            base per state, decision row offsets, entry action, entry target, entry step,
            entry reaches-final flag, start state). Row ``base[s] + mask`` lists the edges of
            state ``s`` when its atoms have the values in ``mask`` (bit b = b-th atom seen).
        cond: (atom kind, atom arg, static atoms [event, atom], bytecode start/op/a/b/c/d,
            constants, constant nulls, columns [event, column], column nulls, update
            start/op/a/b/c/d, register count, guard per atom: the static atom that must hold
            before a dynamic atom's bytecode runs, or -1).
        cfg: (within µs or -1, skip mode, skip step, watermark µs, apply watermark (0/1)).
        ev_key, ev_ts, ev_ref: key number, time (µs) and event-table reference of each event,
            sorted by key, time and arrival.
        s_runs, s_regs, s_regn: open runs (key, state, node, start time, start ordinal) sorted by
            key and start, with their registers.
        s_comp: completed matches held back by the skip strategy (key, node, start ordinal, last
            ordinal, first / last ordinal of the skip step), sorted by key and start.
        nodes, n_nodes: the node pool (parent, step, event reference, ordinal) and its size;
            rows from ``n_nodes`` on are scratch space for new nodes.
        key_ord: next event ordinal per key (not modified; keys beyond it start at 0).
        caps: capacities (open runs of one key, completed matches of one key, emitted, timed
            out, open runs over all keys, completed matches over all keys).

    Returns:
        (status, runs, regs, regn, completed, n_nodes, emitted (key, tip node), timed out (key,
        tip node, start time), next ordinal per key). ``status`` is :data:`OK` or the
        ``FULL_*`` code of the buffer to enlarge.
    """
    st_kind = nfa[0]
    rel_start = nfa[2]
    rel_atoms = nfa[3]
    tab_base = nfa[4]
    dec_off = nfa[5]
    dec_action = nfa[6]
    dec_target = nfa[7]
    dec_step = nfa[8]
    dec_final = nfa[9]
    start_state = nfa[10]
    atom_kind = cond[0]
    atom_arg = cond[1]
    static = cond[2]
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
    upd_start = cond[13]
    upd_op = cond[14]
    upd_a = cond[15]
    upd_b = cond[16]
    upd_c = cond[17]
    upd_d = cond[18]
    n_regs = cond[19]
    atom_guard = cond[20]
    all_step = upd_start.shape[0] - 2  # the last update range is the "every event" one
    within = cfg[0]
    skip_mode = cfg[1]
    skip_step = cfg[2]
    watermark = cfg[3]
    apply_wm = cfg[4]

    # Two halves (current / next event) of the open runs of one key. Register row 0 of each
    # half stays zero: it is the empty partial match of the start state; run r uses row r + 1.
    rw = max(n_regs, 1)
    cap_runs = caps[0]
    runs = np.empty((2, cap_runs, 4), dtype=np.int64)
    regs = np.zeros((2, cap_runs + 1, rw), dtype=np.float64)
    regn = np.zeros((2, cap_runs + 1, rw), dtype=np.uint8)
    q = np.empty((caps[1], 5), dtype=np.int64)
    stack_v = np.empty(bc_op.shape[0] + 1, dtype=np.float64)
    stack_n = np.empty(bc_op.shape[0] + 1, dtype=np.bool_)
    out_runs = np.empty((caps[4], 5), dtype=np.int64)
    out_regs = np.empty((caps[4], rw), dtype=np.float64)
    out_regn = np.empty((caps[4], rw), dtype=np.uint8)
    out_comp = np.empty((caps[5], 6), dtype=np.int64)
    n_out = 0
    n_outc = 0
    em = np.empty((caps[2], 2), dtype=np.int64)
    nem = 0
    to = np.empty((caps[3], 3), dtype=np.int64)
    nto = 0
    # Keys are sorted in every input, so the largest key number is at the end of each.
    top = key_ord.shape[0] - 1
    if ev_key.shape[0] > 0:
        top = max(top, ev_key[ev_key.shape[0] - 1])
    if s_runs.shape[0] > 0:
        top = max(top, s_runs[s_runs.shape[0] - 1, 0])
    if s_comp.shape[0] > 0:
        top = max(top, s_comp[s_comp.shape[0] - 1, 0])
    ords = np.zeros(top + 1, dtype=np.int64)
    ords[: key_ord.shape[0]] = key_ord
    status = OK

    n_ev = ev_key.shape[0]
    n_s = s_runs.shape[0]
    n_c = s_comp.shape[0]
    i = 0
    j = 0
    jc = 0
    big = np.int64(2) ** 62
    while status == OK and (i < n_ev or j < n_s or jc < n_c):
        key = big
        if i < n_ev:
            key = ev_key[i]
        if j < n_s and s_runs[j, 0] < key:
            key = s_runs[j, 0]
        if jc < n_c and s_comp[jc, 0] < key:
            key = s_comp[jc, 0]
        h = 0
        na = 0
        while j < n_s and s_runs[j, 0] == key:
            if na >= cap_runs:
                return _full(FULL_RUNS, out_runs, out_regs, out_regn, out_comp, em, to, ords)
            for f in range(4):
                runs[h, na, f] = s_runs[j, f + 1]
            for f in range(rw):
                regs[h, na + 1, f] = s_regs[j, f]
                regn[h, na + 1, f] = s_regn[j, f]
            na += 1
            j += 1
        nq = 0
        while jc < n_c and s_comp[jc, 0] == key:
            if nq >= q.shape[0]:
                return _full(FULL_Q, out_runs, out_regs, out_regn, out_comp, em, to, ords)
            for f in range(5):
                q[nq, f] = s_comp[jc, f + 1]
            nq += 1
            jc += 1
        ordv = ords[key]
        while i < n_ev and ev_key[i] == key:
            t = ev_ts[i]
            ref = ev_ref[i]
            if within >= 0 and na > 0 and t - runs[h, 0, R_STS] >= within:
                status = _room(nq + na, q.shape[0], nem + nq + na, em.shape[0], nto + na,
                               to.shape[0])
                if status != OK:
                    return _full(status, out_runs, out_regs, out_regn, out_comp, em, to, ords)
                na, nq, nem, nto = _advance_time(key, t, within, runs, regs, regn, h, na, q, nq,
                                                 nodes, st_kind, skip_mode, skip_step, em, nem,
                                                 to, nto)
            g = 1 - h
            nb = 0
            nq0 = nq
            for r in range(na + 1):
                is_start = r == na
                if is_start:
                    st = start_state
                    node = -1
                    sts = t
                    sord = ordv
                    rrow = 0
                else:
                    st = runs[h, r, R_STATE]
                    node = runs[h, r, R_NODE]
                    sts = runs[h, r, R_STS]
                    sord = runs[h, r, R_SORD]
                    rrow = r + 1
                # The values of the atoms this state can see select its decision-table row.
                mask = 0
                rs = rel_start[st]
                for b in range(rel_start[st + 1] - rs):
                    k = rel_atoms[rs + b]
                    if atom_kind[k] == A_STATIC:
                        if static[i, atom_arg[k]] != 0:
                            mask |= 1 << b
                    elif atom_guard[k] >= 0 and static[i, atom_guard[k]] == 0:
                        continue
                    elif _eval_prog(atom_arg[k], i, regs, regn, h, rrow, bc_start, bc_op, bc_a,
                                    bc_b, bc_c, bc_d, consts, consts_null, cols, cols_null,
                                    stack_v, stack_n):
                        mask |= 1 << b
                row = tab_base[st] + mask
                e0 = dec_off[row]
                e1 = dec_off[row + 1]
                if e0 == e1:
                    continue
                base = nb
                discard = False
                for x in range(e0, e1):
                    tgt = dec_target[x]
                    tk = st_kind[tgt]
                    is_take = dec_action[x] != IGNORE
                    if not is_take and is_start:
                        continue
                    new_node = node
                    if is_take:
                        # A new node in the shared buffer, named by the source state's step.
                        if n_nodes >= nodes.shape[0]:
                            return _full(FULL_NODES, out_runs, out_regs, out_regn, out_comp, em,
                                         to, ords)
                        nodes[n_nodes, N_PARENT] = node
                        nodes[n_nodes, N_STEP] = dec_step[x]
                        nodes[n_nodes, N_EV] = ref
                        nodes[n_nodes, N_ORD] = ordv
                        new_node = n_nodes
                        n_nodes += 1
                    if tk == FINAL:
                        if nq >= q.shape[0]:
                            return _full(FULL_Q, out_runs, out_regs, out_regn, out_comp, em, to,
                                         ords)
                        nq = _add_completed(q, nq, new_node, sord, nodes, skip_mode,
                                            skip_step)
                        continue
                    if tk == STOP:
                        discard = True
                        continue
                    if nb >= cap_runs:
                        return _full(FULL_RUNS, out_runs, out_regs, out_regn, out_comp, em, to,
                                     ords)
                    runs[g, nb, R_STATE] = tgt
                    runs[g, nb, R_NODE] = new_node
                    runs[g, nb, R_STS] = sts
                    runs[g, nb, R_SORD] = sord
                    if n_regs > 0:
                        for f in range(rw):
                            regs[g, nb + 1, f] = regs[h, rrow, f]
                            regn[g, nb + 1, f] = regn[h, rrow, f]
                        if is_take:
                            _apply_updates(dec_step[x], i, regs, regn, g, nb + 1, upd_start,
                                           upd_op, upd_a, upd_b, upd_c, upd_d, cols, cols_null)
                            _apply_updates(all_step, i, regs, regn, g, nb + 1, upd_start,
                                           upd_op, upd_a, upd_b, upd_c, upd_d, cols, cols_null)
                    nb += 1
                    if is_take and dec_final[x] != 0:
                        if nq >= q.shape[0]:
                            return _full(FULL_Q, out_runs, out_regs, out_regn, out_comp, em, to,
                                         ords)
                        nq = _add_completed(q, nq, new_node, sord, nodes, skip_mode,
                                            skip_step)
                if discard:
                    nb = base
            if nq > nq0:
                _order_completed(q, nq0, nq, nodes)
            if nq > 0:
                if nem + nq > em.shape[0]:
                    return _full(FULL_EMITTED, out_runs, out_regs, out_regn, out_comp, em, to,
                                 ords)
                nq, nb, nem = _emit_matches(key, q, nq, runs, regs, regn, g, nb, skip_mode, em,
                                            nem)
            h = g
            na = nb
            ordv += 1
            i += 1
        if apply_wm != 0 and within >= 0 and na > 0:
            status = _room(nq + na, q.shape[0], nem + nq + na, em.shape[0], nto + na,
                           to.shape[0])
            if status != OK:
                return _full(status, out_runs, out_regs, out_regn, out_comp, em, to, ords)
            na, nq, nem, nto = _advance_time(key, watermark, within, runs, regs, regn, h, na, q,
                                             nq, nodes, st_kind, skip_mode, skip_step, em, nem,
                                             to, nto)
        ords[key] = ordv
        if n_out + na > out_runs.shape[0]:
            return _full(FULL_OUT_RUNS, out_runs, out_regs, out_regn, out_comp, em, to, ords)
        for r in range(na):
            out_runs[n_out, 0] = key
            for f in range(4):
                out_runs[n_out, f + 1] = runs[h, r, f]
            for f in range(rw):
                out_regs[n_out, f] = regs[h, r + 1, f]
                out_regn[n_out, f] = regn[h, r + 1, f]
            n_out += 1
        if n_outc + nq > out_comp.shape[0]:
            return _full(FULL_OUT_COMP, out_runs, out_regs, out_regn, out_comp, em, to, ords)
        for r in range(nq):
            out_comp[n_outc, 0] = key
            for f in range(5):
                out_comp[n_outc, f + 1] = q[r, f]
            n_outc += 1
    return (OK, out_runs[:n_out], out_regs[:n_out], out_regn[:n_out], out_comp[:n_outc],
            n_nodes, em[:nem], to[:nto], ords)


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
