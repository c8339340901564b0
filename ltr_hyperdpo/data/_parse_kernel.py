"""Numba kernel that parses LETOR / SVMlight text bytes into dense float32 rows.

The kernel works on one chunk of complete lines; the Python driver in
:mod:`ltr_hyperdpo.data.letor` handles chunking, width growth and error messages.
"""
from __future__ import annotations

import numpy as np

from ._jit import deferred_njit, jitable

OK = 0
ERR_LABEL = 1
ERR_QID_MISSING = 2
ERR_QID_VALUE = 3
ERR_INDEX = 4
ERR_INDEX_NONPOSITIVE = 5
ERR_INDEX_DUPLICATE = 6
ERR_VALUE = 7
ERR_NONFINITE = 8
ERR_TOKEN = 9
ERR_INDEX_TOO_LARGE = 10
CLIPPED = 100  # a finite value beyond float32 range, clipped to +-FLT_MAX (Istella has such values)
FLT_MAX = 3.4028234663852886e38

ERROR_TEXT = {
    ERR_LABEL: "missing or non-numeric label",
    ERR_QID_MISSING: "missing 'qid:' token",
    ERR_QID_VALUE: "non-numeric qid",
    ERR_INDEX: "non-numeric feature index",
    ERR_INDEX_NONPOSITIVE: "feature index must be >= 1 (indices are 1-based)",
    ERR_INDEX_DUPLICATE: "duplicate feature index in one line",
    ERR_VALUE: "non-numeric feature value",
    ERR_NONFINITE: "NaN or infinite value",
    ERR_TOKEN: "token is not of the form index:value",
    ERR_INDEX_TOO_LARGE: "feature index above the limit on features",
}

_POW10 = np.array([10.0 ** i for i in range(23)], dtype=np.float64)
_SPACE = 32
_TAB = 9
_CR = 13
_NL = 10
_HASH = 35
_COLON = 58


@jitable(inline="always")
def _is_ws(c):
    return c == _SPACE or c == _TAB or c == _CR


@jitable()
def _parse_float(buf, s, e):
    """Parse buf[s:e] as a decimal float; returns (value, status) with status OK/ERR_VALUE/ERR_NONFINITE."""
    i = s
    if i >= e:
        return 0.0, ERR_VALUE
    neg = False
    c = buf[i]
    if c == 45 or c == 43:  # '-' '+'
        neg = c == 45
        i += 1
        if i >= e:
            return 0.0, ERR_VALUE
    c = buf[i]
    # "nan", "inf", "infinity" in any case
    if c == 110 or c == 78 or c == 105 or c == 73:
        return 0.0, ERR_NONFINITE
    mant = np.int64(0)
    nd = 0
    exp10 = 0
    seen_digit = False
    while i < e and 48 <= buf[i] <= 57:
        seen_digit = True
        if nd < 18:
            mant = mant * 10 + (buf[i] - 48)
            if mant > 0:
                nd += 1
        else:
            exp10 += 1
        i += 1
    if i < e and buf[i] == 46:  # '.'
        i += 1
        while i < e and 48 <= buf[i] <= 57:
            seen_digit = True
            if nd < 18:
                mant = mant * 10 + (buf[i] - 48)
                if mant > 0:
                    nd += 1
                exp10 -= 1
            i += 1
    if not seen_digit:
        return 0.0, ERR_VALUE
    if i < e and (buf[i] == 101 or buf[i] == 69):  # 'e' 'E'
        i += 1
        eneg = False
        if i < e and (buf[i] == 45 or buf[i] == 43):
            eneg = buf[i] == 45
            i += 1
        if i >= e:
            return 0.0, ERR_VALUE
        ev = 0
        while i < e and 48 <= buf[i] <= 57:
            if ev < 100000:
                ev = ev * 10 + (buf[i] - 48)
            i += 1
        exp10 += -ev if eneg else ev
    if i != e:
        return 0.0, ERR_VALUE
    if mant != 0 and nd + exp10 > 39:
        # beyond float32 whatever the digits (also beyond float64, e.g. 1e999): clip without overflowing
        return (-FLT_MAX if neg else FLT_MAX), CLIPPED
    v = float(mant)
    if mant != 0:
        # Dividing by an exact power of ten keeps correct rounding for the common short decimals.
        if exp10 < 0:
            if exp10 >= -22:
                v = v / _POW10[-exp10]
            else:
                v = v * (10.0 ** exp10)
        elif exp10 > 0:
            v = v * (_POW10[exp10] if exp10 <= 22 else 10.0 ** exp10)
    if neg:
        v = -v
    if not np.isfinite(v):
        return 0.0, ERR_NONFINITE
    if abs(v) > FLT_MAX:
        return (-FLT_MAX if v < 0 else FLT_MAX), CLIPPED
    return v, OK


@jitable()
def _parse_int(buf, s, e):
    """Parse buf[s:e] as a signed decimal integer; returns (value, ok)."""
    i = s
    if i >= e:
        return 0, False
    neg = False
    if buf[i] == 45 or buf[i] == 43:
        neg = buf[i] == 45
        i += 1
        if i >= e:
            return 0, False
    v = np.int64(0)
    while i < e:
        c = buf[i]
        if c < 48 or c > 57:
            return 0, False
        if v > 100000000000000000:
            return 0, False
        v = v * 10 + (c - 48)
        i += 1
    return (-v if neg else v), True


@deferred_njit(_is_ws, _parse_float, _parse_int, cache=True)
def parse_chunk(buf, n, width, require_qid, first_line_no, lenient,
                out_x, out_y, out_qid, out_line, com_off, com_buf, stamp, bad_lines, unlabeled=False,
                max_index=1 << 62):
    """Parse the complete lines in buf[:n].

    With ``unlabeled``, a line whose first token holds a ':' (``qid:Q`` or ``index:value``) has no label: it reads
    as label 0 and the token is parsed as the rest of the line (scoring data need no labels). An index above
    ``max_index`` is an error (a stray huge index would otherwise make the caller allocate a matrix that wide).

    Returns (n_rows, n_bad, need_width, com_len, err_code, err_line, err_s, err_e, n_clipped).
    Rows with an index above ``width`` are not stored; ``need_width`` then tells the caller to re-run wider.
    The first error (raise mode) stops parsing; in lenient mode bad lines are skipped and recorded.
    """
    row = 0
    n_clipped = 0
    n_bad = 0
    need_width = 0
    com_len = 0
    err_code = OK
    err_line = -1
    err_s = 0
    err_e = 0
    line_no = first_line_no
    pos = 0
    com_off[0] = 0
    while pos < n:
        # find line end
        le = pos
        while le < n and buf[le] != _NL:
            le += 1
        i = pos
        while i < le and _is_ws(buf[i]):
            i += 1
        if i >= le or buf[i] == _HASH:
            pos = le + 1
            line_no += 1
            continue
        code = OK
        ts = 0
        te = 0
        # label
        ts = i
        has_colon = False
        while i < le and not _is_ws(buf[i]) and buf[i] != _HASH:
            if buf[i] == _COLON:
                has_colon = True
            i += 1
        te = i
        if unlabeled and has_colon:
            lab, st = 0.0, OK
            i = ts  # the token is the line's first qid/feature token
        else:
            lab, st = _parse_float(buf, ts, te)
        if st == CLIPPED:
            n_clipped += 1
            st = OK
        if st != OK:
            code = ERR_LABEL if st == ERR_VALUE else st
        has_qid = False
        qid = np.int64(0)
        first_tok = True
        prev_idx = 0
        stamp_id = row + 1
        line_max = 0
        com_s = -1
        while code == OK:
            while i < le and _is_ws(buf[i]):
                i += 1
            if i >= le:
                break
            if buf[i] == _HASH:
                com_s = i + 1
                break
            ts = i
            colon = -1
            while i < le and not _is_ws(buf[i]) and buf[i] != _HASH:
                if buf[i] == _COLON and colon < 0:
                    colon = i
                i += 1
            te = i
            if (first_tok and te - ts >= 4 and buf[ts] == 113 and buf[ts + 1] == 105 and buf[ts + 2] == 100
                    and buf[ts + 3] == _COLON):  # "qid:"
                first_tok = False
                qv, ok = _parse_int(buf, ts + 4, te)
                if not ok:
                    code = ERR_QID_VALUE
                    break
                qid = qv
                has_qid = True
                continue
            if first_tok and require_qid:
                code = ERR_QID_MISSING
                break
            first_tok = False
            if colon < 0:
                code = ERR_TOKEN
                break
            idx, ok = _parse_int(buf, ts, colon)
            if not ok:
                code = ERR_INDEX
                break
            if idx <= 0:
                code = ERR_INDEX_NONPOSITIVE
                break
            if idx > max_index:
                code = ERR_INDEX_TOO_LARGE
                break
            val, st = _parse_float(buf, colon + 1, te)
            if st == CLIPPED:
                n_clipped += 1
                st = OK
            if st != OK:
                code = st
                break
            if idx <= prev_idx:
                # out-of-order index: check for a duplicate against this row's stamps
                if idx < stamp.shape[0] and stamp[idx] == stamp_id:
                    code = ERR_INDEX_DUPLICATE
                    break
            if idx < stamp.shape[0]:
                stamp[idx] = stamp_id
            prev_idx = idx
            if idx > line_max:
                line_max = idx
            if idx <= width:
                out_x[row, idx - 1] = np.float32(val)
        if code == OK and require_qid and not has_qid:
            code = ERR_QID_MISSING
            ts = pos
            te = le
        if code != OK:
            for j in range(width):
                out_x[row, j] = 0.0
            if err_code == OK:
                err_code = code
                err_line = line_no
                err_s = ts
                err_e = te
            if not lenient:
                return row, n_bad, need_width, com_len, err_code, err_line, err_s, err_e, n_clipped
            if n_bad < bad_lines.shape[0]:
                bad_lines[n_bad] = line_no
            n_bad += 1
            # undo stamps so a later line reusing this stamp id cannot see stale entries
            stamp[:] = 0
            pos = le + 1
            line_no += 1
            continue
        if line_max > need_width:
            need_width = line_max
        out_y[row] = np.float32(lab)
        out_qid[row] = qid
        out_line[row] = line_no
        if com_s >= 0:
            cs = com_s
            ce = le
            while cs < ce and _is_ws(buf[cs]):
                cs += 1
            while ce > cs and _is_ws(buf[ce - 1]):
                ce -= 1
            for j in range(cs, ce):
                com_buf[com_len] = buf[j]
                com_len += 1
        com_off[row + 1] = com_len
        row += 1
        pos = le + 1
        line_no += 1
    return row, n_bad, need_width, com_len, err_code, err_line, err_s, err_e, n_clipped
