/* The vector binary path's driver, written once and compiled once per instruction set
 * (samplers/_fg_gibbs_paths.h includes this file for each). The includer defines:
 *   FG_BX_ATTRIBUTE  the function attribute with its target
 *   FG_BX_UPDATE     the name of the function made here
 *   FG_BX_GROUP(c)   the call that does the 16 chains from c (fg_binary_vectors' arguments)
 * Every instance gives fg_binary_update_portable's bits. */

/* fg_binary_update_portable in vector registers: field, draw, new state and scaled sums in one
 * pass over the chains, with no buffer between the steps. Every value is computed by the same
 * operations in the same order (moves counted exactly; multi-state sums: lane l takes the
 * chains c = l mod 4 of the full quads, the rest go to lane 0), so the bits are the portable
 * path's. Needs degree <= FG_MAX_FAST_DEGREE. */
FG_BX_ATTRIBUTE static int64_t FG_BX_UPDATE(int64_t nb, int32_t *xv, const int32_t *x, int64_t n_chains,
                                            int64_t degree, const int32_t *other, const int32_t *k_other,
                                            const double *vtab, const int64_t *offset, const int8_t *scaled,
                                            const int64_t *feature, double *sums, const double *u, double *flip)
{
    const double *rows[FG_MAX_FAST_DEGREE];
    const int32_t *xus[FG_MAX_FAST_DEGREE];
    int kinds[FG_MAX_FAST_DEGREE];
    __m256d acc[FG_MAX_FAST_DEGREE];
    __m256i counts[FG_MAX_FAST_DEGREE], moves = _mm256_setzero_si256();
    int64_t c = 0, e, changed = 0;
    for (e = 0; e < degree; e++) {
        rows[e] = vtab + offset[e];
        xus[e] = x + (int64_t)(other[e] < 0 ? 0 : other[e]) * n_chains;
        kinds[e] = k_other[e] == 1 ? FG_UNARY : k_other[e] == 2 ? FG_BINARY_OTHER : FG_MULTI_OTHER;
        acc[e] = _mm256_setzero_pd();
        counts[e] = _mm256_setzero_si256();
    }
    for (; c + 16 <= nb; c += 16)
        changed += FG_BX_GROUP(c);
    for (; c + 4 <= nb; c += 4)
        changed += fg_binary_vectors(1, c, xv, degree, rows, xus, kinds, scaled, u, flip, acc, counts, &moves);
    /* the last nb mod 4 chains, as the portable path does them */
    int64_t full = c, moved = fg_lane_total(moves);
    for (; c < nb; c++) {
        double field = 0.0;
        for (e = 0; e < degree; e++)
            field += kinds[e] == FG_UNARY ? rows[e][1] : rows[e][2 * xus[e][c] + 1];
        int32_t old = xv[c], new = fg_logistic_draw(field, u[c]);
        flip[c] = (double)(new - old);
        xv[c] = new;
        changed += new != old;
        moved += new - old;
    }
    if (changed == 0)
        return 0;
    for (e = 0; e < degree; e++) {
        if (!scaled[e])
            continue;
        if (kinds[e] == FG_UNARY) {
            sums[feature[e]] += rows[e][0] * (double)moved;
            continue;
        }
        if (kinds[e] == FG_BINARY_OTHER) {
            int64_t moved1 = fg_lane_total(counts[e]);
            for (c = full; c < nb; c++)
                moved1 += xus[e][c] ? (int64_t)flip[c] : 0;
            sums[feature[e]] += rows[e][0] * (double)(moved - moved1) + rows[e][2] * (double)moved1;
            continue;
        }
        double lane[4];
        _mm256_storeu_pd(lane, acc[e]);
        for (c = full; c < nb; c++)
            lane[0] += flip[c] * rows[e][2 * xus[e][c]];
        sums[feature[e]] += (lane[0] + lane[1]) + (lane[2] + lane[3]);
    }
    return changed;
}

#undef FG_BX_ATTRIBUTE
#undef FG_BX_UPDATE
#undef FG_BX_GROUP
