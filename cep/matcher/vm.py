"""The compiled backtracking engine that runs a row-pattern program over sorted partitions.

A PATTERN is compiled (``cep.matcher.program``) into a small instruction list, run here by a
numba-compiled backtracking VM — the same search order as a backtracking regex engine, which is
exactly the SQL:2016 preference order (SEMANTICS.md §1.4). Conditions that depend only on the
current row and its physical neighbours arrive precomputed as a boolean matrix; conditions that
read the partial match (``A.price``, ``FIRST``/``LAST``, aggregates, ``CLASSIFIER()``) arrive as
a stack bytecode evaluated against the labels of the path under test.

Every position of the match is labelled when the path consumes it; a failed path can only
overwrite positions after its branch point, so on success the labels of ``[start, end)`` are
those of the successful path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

# Pattern instructions.
CHAR = 0  # a = variable, b = 1 when inside {- -}
SPLIT = 1  # try a first, then b
JMP = 2  # go to a
MATCH = 3
ASSERT_START = 4
ASSERT_END = 5
SAVEPOS = 6  # reg[a] = pos (undone on backtrack)
EXIT_IF_EMPTY = 7  # if pos == reg[a]: go to b (an empty iteration ends the loop)

# Condition bytecode.
C_CONST = 0  # a = constant index
C_LOAD = 1  # a = column, b = selector
C_LABEL = 2  # b = selector; value = label index (NULL outside the partial match)
C_MATCHNUM = 3
C_AGG = 4  # a = column (-1: COUNT(*)), b = aggregate slot (func, mask in agg tables)
C_ADD, C_SUB, C_MUL, C_DIV, C_MOD, C_NEG = 5, 6, 7, 8, 9, 10
C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE = 11, 12, 13, 14, 15, 16
C_AND, C_OR, C_NOT, C_ISNULL, C_ISNOTNULL, C_ABS, C_COALESCE = 17, 18, 19, 20, 21, 22, 23

# Selector kinds.
SEL_CURRENT, SEL_LAST, SEL_FIRST = 0, 1, 2
# Aggregate functions.
AGG_SUM, AGG_AVG, AGG_COUNT, AGG_MIN, AGG_MAX = 0, 1, 2, 3, 4
# Skip modes.
SKIP_PAST_LAST, SKIP_NEXT_ROW, SKIP_TO_FIRST, SKIP_TO_LAST = 0, 1, 2, 3
# Error codes returned in ``status``.
OK, ERR_SKIP_FIRST_ROW, ERR_SKIP_MISSING, ERR_TOO_COMPLEX = 0, 1, 2, 3
# Capacity errors: the caller retries with larger buffers.
ERR_STACK_FULL, ERR_OUTPUT_FULL = 4, 5

STEP_BUDGET = 50_000_000  # backtracking steps allowed for one start row


@njit(cache=True, nogil=True)
def run_program(
    ops: Any, op_a: Any, op_b: Any, n_regs: int,
    part_start: Any, part_end: Any, ts: Any, within_us: int,
    cond: Any, var_prog: Any,
    code_start: Any, code_op: Any, code_a: Any, code_b: Any, consts: Any, consts_null: Any,
    cols: Any, cols_null: Any, sel_kind: Any, sel_mask: Any, sel_logical: Any, sel_physical: Any,
    agg_func: Any, agg_mask: Any,
    skip_mode: int, skip_mask: int,
    resume: Any, numbers: Any, covered: Any, anchor: Any,
    open_end: bool, lookahead: int, watermark_us: int, stack_cap: int, output_cap: int,
) -> tuple[Any, Any, Any, Any, Any, Any, Any, int, int]:
    """Run the matching loop of SEMANTICS.md §1.2 over every partition.

    Per partition ``p`` the search starts at ``resume[p]`` with MATCH_NUMBER ``numbers[p]``;
    ``covered[p]`` is one past the last row covered by an earlier match (for unmatched rows)
    and ``anchor[p]`` the row ``^`` means (-1: the partition start is no longer held). All four
    are updated in place. With ``open_end`` the partition may continue later: a search whose
    answer could change with more rows (it reached the last ``lookahead`` rows, or the end
    before its WITHIN window closed at ``watermark_us``) is not decided; the partition stops
    there and ``resume[p]`` says where to continue. Buffers have fixed sizes (no reallocation
    in the loop); when one is too small the status says so and the caller retries.

    Returns:
        (match start row, match end row (exclusive), match number, offsets of each match's
        labels, labels, excluded flags, unmatched flags, status, status row).
    """
    n = ts.shape[0]
    labels = np.zeros(n + 1, dtype=np.int16)
    excluded = np.zeros(n + 1, dtype=np.uint8)
    regs = np.zeros(max(n_regs, 1), dtype=np.int64)
    cap = stack_cap
    st_kind = np.empty(cap, dtype=np.int8)  # 0 branch, 1 register undo, 2 first/last undo
    st_a = np.empty(cap, dtype=np.int64)
    st_b = np.empty(cap, dtype=np.int64)
    st_c = np.empty(cap, dtype=np.int64)
    n_vars = cond.shape[0]
    last_at = np.full(n_vars, -1, dtype=np.int64)
    first_at = np.full(n_vars, -1, dtype=np.int64)
    track = False
    for v in range(var_prog.shape[0]):
        if var_prog[v] >= 0:
            track = True
    stack_v = np.empty(max(code_op.shape[0], 1) + 1, dtype=np.float64)
    stack_n = np.empty(max(code_op.shape[0], 1) + 1, dtype=np.bool_)

    m_start = np.empty(n + 1, dtype=np.int64)
    m_end = np.empty(n + 1, dtype=np.int64)
    m_number = np.empty(n + 1, dtype=np.int64)
    m_offset = np.zeros(n + 2, dtype=np.int64)
    out_cap = output_cap
    out_labels = np.empty(out_cap, dtype=np.int16)
    out_excl = np.empty(out_cap, dtype=np.uint8)
    unmatched = np.zeros(n, dtype=np.uint8)
    n_matches = 0
    n_out = 0

    for p in range(part_start.shape[0]):
        pstart = part_start[p]
        pend = part_end[p]
        number = numbers[p]
        pos = resume[p]
        cover = covered[p]
        start_row = anchor[p]
        eff_end = pend - lookahead if open_end else pend
        limit_ptr = pos
        undecided = False
        while pos < pend:
            limit = pend
            window_closed = False
            if within_us >= 0:
                window_closed = ts[pos] + within_us <= watermark_us
                if limit_ptr < pos:
                    limit_ptr = pos
                while limit_ptr < pend and ts[limit_ptr] - ts[pos] < within_us:
                    limit_ptr += 1
                limit = limit_ptr
            # --- one anchored backtracking search from ``pos`` ---
            if track:
                for u in range(n_vars):
                    last_at[u] = -1
                    first_at[u] = -1
            sp = 0
            pc = 0
            cur = pos
            end = -1
            steps = 0
            while True:
                steps += 1
                if steps > STEP_BUDGET:
                    return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                            m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                            unmatched, ERR_TOO_COMPLEX, pos)
                op = ops[pc]
                ok = True
                if op == CHAR:
                    v = op_a[pc]
                    if cur >= limit:
                        if open_end and limit == pend and not window_closed:
                            undecided = True
                            break
                        ok = False
                    elif cur >= eff_end:
                        undecided = True
                        break
                    else:
                        prog = var_prog[v]
                        if prog < 0:
                            ok = cond[v, cur] != 0
                        else:
                            labels[cur] = v
                            # The condition's bytecode, inlined: a call would refcount every array.
                            esp = 0
                            for ei in range(code_start[prog], code_start[prog + 1]):
                                eop = code_op[ei]
                                ea = code_a[ei]
                                eb = code_b[ei]
                                if eop == C_CONST:
                                    stack_v[esp] = consts[ea]
                                    stack_n[esp] = consts_null[ea]
                                    esp += 1
                                elif eop in (C_LOAD, C_LABEL):
                                    skind = sel_kind[eb]
                                    erow = -1
                                    if skind == SEL_CURRENT:
                                        erow = cur
                                    elif sel_logical[eb] == 0:
                                        # O(1) per member: the path keeps the first and last erow of every variable.
                                        smask = sel_mask[eb]
                                        if skind == SEL_LAST:
                                            if (smask >> np.int64(v)) & 1:
                                                erow = cur
                                            else:
                                                for su in range(last_at.shape[0]):
                                                    if (smask >> np.int64(su)) & 1 and last_at[su] > erow:
                                                        erow = last_at[su]
                                        else:
                                            for su in range(first_at.shape[0]):
                                                if (smask >> np.int64(su)) & 1 and first_at[su] >= 0 and (erow < 0 or first_at[su] < erow):
                                                    erow = first_at[su]
                                            if erow < 0 and (smask >> np.int64(v)) & 1:
                                                erow = cur
                                    else:
                                        smask = sel_mask[eb]
                                        sskip = sel_logical[eb]
                                        if skind == SEL_LAST:
                                            sr = cur
                                            while sr >= pos:
                                                if (smask >> np.int64(labels[sr])) & 1:
                                                    if sskip == 0:
                                                        erow = sr
                                                        break
                                                    sskip -= 1
                                                sr -= 1
                                        else:
                                            sr = pos
                                            while sr <= cur:
                                                if (smask >> np.int64(labels[sr])) & 1:
                                                    if sskip == 0:
                                                        erow = sr
                                                        break
                                                    sskip -= 1
                                                sr += 1
                                    if erow >= 0:
                                        erow += sel_physical[eb]
                                        if erow < pstart or erow >= pend:
                                            erow = -1
                                    if eop == C_LOAD:
                                        if erow < 0:
                                            stack_v[esp] = 0.0
                                            stack_n[esp] = True
                                        else:
                                            stack_v[esp] = cols[ea, erow]
                                            stack_n[esp] = cols_null[ea, erow]
                                    else:
                                        if erow < pos or erow > cur or not ((agg_mask[ea] >> np.int64(labels[erow])) & 1):
                                            stack_v[esp] = 0.0
                                            stack_n[esp] = True
                                        else:
                                            stack_v[esp] = labels[erow]
                                            stack_n[esp] = False
                                    esp += 1
                                elif eop == C_MATCHNUM:
                                    stack_v[esp] = number
                                    stack_n[esp] = False
                                    esp += 1
                                elif eop == C_AGG:
                                    efunc = agg_func[eb]
                                    emask = agg_mask[eb]
                                    etotal = 0.0
                                    ecount = 0
                                    ebest = 0.0
                                    for er in range(pos, cur + 1):
                                        if not ((emask >> np.int64(labels[er])) & 1):
                                            continue
                                        if ea < 0:
                                            ecount += 1
                                            continue
                                        if cols_null[ea, er]:
                                            continue
                                        ev = cols[ea, er]
                                        if ecount == 0 or (efunc == AGG_MIN and ev < ebest) or (efunc == AGG_MAX and ev > ebest):
                                            ebest = ev
                                        etotal += ev
                                        ecount += 1
                                    if efunc == AGG_COUNT:
                                        stack_v[esp] = ecount
                                        stack_n[esp] = False
                                    elif ecount == 0:
                                        stack_v[esp] = 0.0
                                        stack_n[esp] = True
                                    elif efunc == AGG_SUM:
                                        stack_v[esp] = etotal
                                        stack_n[esp] = False
                                    elif efunc == AGG_AVG:
                                        stack_v[esp] = etotal / ecount
                                        stack_n[esp] = False
                                    else:
                                        stack_v[esp] = ebest
                                        stack_n[esp] = False
                                    esp += 1
                                elif eop in (C_NEG, C_NOT, C_ISNULL, C_ISNOTNULL, C_ABS):
                                    ev = stack_v[esp - 1]
                                    en = stack_n[esp - 1]
                                    if eop == C_NEG:
                                        stack_v[esp - 1] = -ev
                                    elif eop == C_ABS:
                                        stack_v[esp - 1] = abs(ev)
                                    elif eop == C_NOT:
                                        stack_v[esp - 1] = 0.0 if ev != 0.0 else 1.0
                                    elif eop == C_ISNULL:
                                        stack_v[esp - 1] = 1.0 if en else 0.0
                                        stack_n[esp - 1] = False
                                    else:
                                        stack_v[esp - 1] = 0.0 if en else 1.0
                                        stack_n[esp - 1] = False
                                else:
                                    esp -= 1
                                    elv = stack_v[esp - 1]
                                    eln = stack_n[esp - 1]
                                    erv = stack_v[esp]
                                    ern = stack_n[esp]
                                    if eop == C_COALESCE:
                                        if eln:
                                            stack_v[esp - 1] = erv
                                            stack_n[esp - 1] = ern
                                    elif eop == C_AND:
                                        # Kleene logic: FALSE wins over NULL.
                                        if (not eln and elv == 0.0) or (not ern and erv == 0.0):
                                            stack_v[esp - 1] = 0.0
                                            stack_n[esp - 1] = False
                                        elif eln or ern:
                                            stack_n[esp - 1] = True
                                        else:
                                            stack_v[esp - 1] = 1.0
                                    elif eop == C_OR:
                                        if (not eln and elv != 0.0) or (not ern and erv != 0.0):
                                            stack_v[esp - 1] = 1.0
                                            stack_n[esp - 1] = False
                                        elif eln or ern:
                                            stack_n[esp - 1] = True
                                        else:
                                            stack_v[esp - 1] = 0.0
                                    elif eln or ern:
                                        stack_n[esp - 1] = True
                                    elif eop == C_ADD:
                                        stack_v[esp - 1] = elv + erv
                                    elif eop == C_SUB:
                                        stack_v[esp - 1] = elv - erv
                                    elif eop == C_MUL:
                                        stack_v[esp - 1] = elv * erv
                                    elif eop in (C_DIV, C_MOD):
                                        if erv == 0.0:
                                            stack_n[esp - 1] = True
                                        elif eop == C_DIV:
                                            stack_v[esp - 1] = elv / erv
                                        else:
                                            stack_v[esp - 1] = np.fmod(elv, erv)
                                    elif eop == C_EQ:
                                        stack_v[esp - 1] = 1.0 if elv == erv else 0.0
                                    elif eop == C_NE:
                                        stack_v[esp - 1] = 1.0 if elv != erv else 0.0
                                    elif eop == C_LT:
                                        stack_v[esp - 1] = 1.0 if elv < erv else 0.0
                                    elif eop == C_LE:
                                        stack_v[esp - 1] = 1.0 if elv <= erv else 0.0
                                    elif eop == C_GT:
                                        stack_v[esp - 1] = 1.0 if elv > erv else 0.0
                                    else:
                                        stack_v[esp - 1] = 1.0 if elv >= erv else 0.0
                            ok = (not stack_n[0]) and stack_v[0] != 0.0
                        if ok:
                            if track:
                                if sp == cap:
                                    return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                                            m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                                            unmatched, ERR_STACK_FULL, pos)
                                st_kind[sp] = 2
                                st_a[sp] = v
                                st_b[sp] = last_at[v]
                                st_c[sp] = first_at[v]
                                sp += 1
                                last_at[v] = cur
                                if first_at[v] < 0:
                                    first_at[v] = cur
                            labels[cur] = v
                            excluded[cur] = op_b[pc]
                            cur += 1
                            pc += 1
                elif op == SPLIT:
                    if sp == cap:
                        return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                                m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                                unmatched, ERR_STACK_FULL, pos)
                    st_kind[sp] = 0
                    st_a[sp] = op_b[pc]
                    st_b[sp] = cur
                    sp += 1
                    pc = op_a[pc]
                elif op == JMP:
                    pc = op_a[pc]
                elif op == MATCH:
                    end = cur
                    break
                elif op == ASSERT_START:
                    ok = cur == start_row
                    pc += 1
                elif op == ASSERT_END:
                    if open_end and cur >= eff_end:
                        undecided = True
                        break
                    ok = cur == pend
                    pc += 1
                elif op == SAVEPOS:
                    if sp == cap:
                        return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                                m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                                unmatched, ERR_STACK_FULL, pos)
                    r = op_a[pc]
                    st_kind[sp] = 1
                    st_a[sp] = r
                    st_b[sp] = regs[r]
                    sp += 1
                    regs[r] = cur
                    pc += 1
                else:  # EXIT_IF_EMPTY
                    if cur == regs[op_a[pc]]:
                        pc = op_b[pc]
                    else:
                        pc += 1
                if not ok:
                    found = False
                    while sp > 0:
                        sp -= 1
                        if st_kind[sp] == 1:
                            regs[st_a[sp]] = st_b[sp]
                        elif st_kind[sp] == 2:
                            last_at[st_a[sp]] = st_b[sp]
                            first_at[st_a[sp]] = st_c[sp]
                        else:
                            pc = st_a[sp]
                            cur = st_b[sp]
                            found = True
                            break
                    if not found:
                        break
            # --- emit and move on ---
            if undecided:
                break
            if end < 0:
                if pos >= cover:
                    unmatched[pos] = 1
                pos += 1
                continue
            if end > cover:
                cover = end
            m_start[n_matches] = pos
            m_end[n_matches] = end
            m_number[n_matches] = number
            length = end - pos
            if n_out + length > out_cap:
                return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                        m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                        unmatched, ERR_OUTPUT_FULL, pos)
            for r in range(pos, end):
                out_labels[n_out] = labels[r]
                out_excl[n_out] = excluded[r]
                n_out += 1
            n_matches += 1
            m_offset[n_matches] = n_out
            number += 1
            if end == pos:
                pos += 1
            elif skip_mode == SKIP_PAST_LAST:
                pos = end
            elif skip_mode == SKIP_NEXT_ROW:
                pos += 1
            else:
                target = -1
                for r in range(pos, end):
                    if (skip_mask >> np.int64(labels[r])) & 1:
                        target = r
                        if skip_mode == SKIP_TO_FIRST:
                            break
                if target < 0:
                    resume[p] = pos
                    return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                            m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                            unmatched, ERR_SKIP_MISSING, pos)
                if target == pos:
                    resume[p] = pos
                    return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
                            m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out],
                            unmatched, ERR_SKIP_FIRST_ROW, pos)
                pos = target
        resume[p] = pos
        numbers[p] = number
        covered[p] = cover
    return (m_start[:n_matches], m_end[:n_matches], m_number[:n_matches],
            m_offset[: n_matches + 1], out_labels[:n_out], out_excl[:n_out], unmatched, OK, -1)
