// EfficientNet's forward and backward over a backend table (include/am/net.h):
// the only copy of the network's orchestration, for the CPU and CUDA alike.
// Gradient rule: parameter gradients accumulate; the activation gradients
// live in four scratch buffers and are assigned, except at the residual merge
// where the skip gradient is added.
#include "am/net.h"
#include "am/prof.h"
#include "../../kernels/act_math.h"
#include "../../kernels/conv_math.h"

// The Philox streams of dropout and of each block's drop-connect.
enum { STREAM_DROPOUT = 0xD0, STREAM_DROP_CONNECT = 0x100 };

// Opens the next op of the per-layer profile, when one is attached; cnt: the
// activation elements the op reads and writes.
#define MARK(n, op, blk, cnt) \
    do { if ((n)->prof) am_prof_mark((n)->prof, (op), (blk), (double)(n)->es * (double)(cnt)); } while (0)

float *am_net_forward(const am_net *n, int train, uint64_t seed, uint64_t step) {
    const am_backend *o = n->ops;
    void *be = n->be;
    const am_model *m = n->m;
    const am_arch *a = &m->arch;
    am_acts *A = n->A;
    int N = A->N, S = A->size, H = am_same_out(S, 2);
    int fused = n->fuse && !train && o->dw_bn_act_fwd;
    if (n->prof) n->prof->pass = AM_PROF_FWD;
    MARK(n, "stem conv", -1, (size_t)N * S * S * a->in_ch + (size_t)N * H * H * a->stem);
    o->stem_fwd(be, A->sx, A->stem_in, A->x, m->stem_w, N, S, a->in_ch, a->stem);
    MARK(n, "stem bn", -1, 2 * (size_t)N * H * H * a->stem);
    o->bn_fwd(be, A->sa, A->smean, A->srstd, A->sx, &m->stem_bn, (size_t)N * H * H, a->stem, a->act, train);
    const void *cur = A->sa;
    for (int i = 0; i < a->nblocks; i++) {
        const am_block_cfg *b = &a->blocks[i];
        const am_block_params *p = &m->blk[i];
        am_block_acts *B = &A->b[i];
        size_t Mi = (size_t)N * B->H * B->W, Mo = (size_t)N * B->Ho * B->Wo;
        int HWo = B->Ho * B->Wo;
        const void *t = cur;
        // Fused eval: the expand BN + act is applied as the depthwise reads
        // its input and the depthwise BN + act as it writes (ex and dx are
        // never normalised in memory).
        if (b->expand != 1) {
            MARK(n, "expand conv", i, Mi * (b->in + b->mid));
            o->pw_fwd(be, B->ex, cur, p->expand, N, B->H, b->in, b->mid);
            if (fused) {
                o->bn_eval_stats(be, B->mean[0], B->rstd[0], &p->bn0, b->mid);
            } else {
                MARK(n, "expand bn", i, 2 * Mi * b->mid);
                o->bn_fwd(be, B->ea, B->mean[0], B->rstd[0], B->ex, &p->bn0, Mi, b->mid, a->act, train);
            }
            t = fused ? B->ex : B->ea;
        }
        if (fused) {
            MARK(n, "dw conv + bn (fused)", i, (Mi + Mo) * b->mid);
            o->bn_eval_stats(be, B->mean[1], B->rstd[1], &p->bn1, b->mid);
            o->dw_bn_act_fwd(be, B->da, t, p->dw, B->mean[0], B->rstd[0], b->expand != 1 ? &p->bn0 : NULL, a->act,
                             B->mean[1], B->rstd[1], &p->bn1, a->act, N, B->H, b->mid, b->k, b->stride);
        } else {
            MARK(n, "dw conv", i, (Mi + Mo) * b->mid);
            o->dw_fwd(be, B->dx, t, p->dw, N, B->H, b->mid, b->k, b->stride);
            MARK(n, "dw bn", i, 2 * Mo * b->mid);
            o->bn_fwd(be, B->da, B->mean[1], B->rstd[1], B->dx, &p->bn1, Mo, b->mid, a->act, train);
        }
        t = B->da;
        // Fused eval where the image is larger than the projection is wide:
        // the SE scale goes into per-image projection weights instead of
        // into the activation.
        int gated = fused && b->se && o->se_project_fwd && HWo > b->out;
        if (gated) {
            MARK(n, "project conv (SE-gated)", i, Mo * (2 * b->mid + b->out));
            o->se_project_fwd(be, B->px, B->pooled, B->hid, B->gate, B->da, p, A, N, HWo, b->mid, b->se, b->out);
        } else {
            if (b->se) {
                MARK(n, "se", i, 3 * Mo * b->mid);
                o->se_fwd(be, B->so, B->pooled, B->hid, B->gate, B->da, p, N, HWo, b->mid, b->se);
                t = B->so;
            }
            MARK(n, "project conv", i, Mo * (b->mid + b->out));
            o->pw_fwd(be, B->px, t, p->project, N, B->Ho, b->mid, b->out);
        }
        MARK(n, "project bn", i, 2 * Mo * b->out);
        o->bn_fwd(be, B->pb, B->mean[2], B->rstd[2], B->px, &p->bn2, Mo, b->out, AM_ACT_NONE, train);
        if (b->skip) {
            float rate = train ? m->drop_connect * i / a->nblocks : 0.0f;
            MARK(n, "residual", i, 3 * Mo * b->out);
            o->residual_fwd(be, B->out, B->dc, B->pb, cur, N, HWo * b->out, rate, seed, STREAM_DROP_CONNECT + i, step);
        }
        cur = B->out;
        H = B->Ho;
    }
    size_t M = (size_t)N * H * H;
    int last = a->blocks[a->nblocks - 1].out;
    MARK(n, "head conv", -1, M * (last + a->head));
    o->pw_fwd(be, A->hx, cur, m->head_w, N, H, last, a->head);
    MARK(n, "head bn", -1, 2 * M * a->head);
    o->bn_fwd(be, A->ha, A->hmean, A->hrstd, A->hx, &m->head_bn, M, a->head, a->act, train);
    MARK(n, "pool, dropout, fc", -1, M * a->head);
    o->gap_fwd(be, A->pooled, A->ha, N, H * H, a->head);
    o->dropout_fwd(be, A->dropped, A->mask, A->pooled, N * a->head, train ? m->dropout : 0.0f, seed, STREAM_DROPOUT,
                   step);
    o->fc_fwd(be, A->logits, A->dropped, m->fc_w, m->fc_b, N, a->head, a->classes);
    if (n->prof) am_prof_mark(n->prof, NULL, 0, 0.0);
    return A->logits;
}

void am_net_backward(const am_net *n, const float *dlogits) {
    const am_backend *o = n->ops;
    void *be = n->be;
    const am_model *m = n->m;
    const am_arch *a = &m->arch;
    am_acts *A = n->A;
    int N = A->N, nb = a->nblocks;
    int H = A->b[nb - 1].Ho;
    size_t M = (size_t)N * H * H;
    int last = a->blocks[nb - 1].out;
    void **g = A->g;
    if (n->prof) n->prof->pass = AM_PROF_BWD;
    MARK(n, "pool, dropout, fc", -1, M * a->head);
    o->fc_bwd(be, A->ghead, m->fc_w, m->fc_b, dlogits, A->dropped, N, a->head, a->classes);
    o->dropout_bwd(be, A->ghead, A->ghead, A->mask, N * a->head);
    o->gap_bwd(be, g[1], A->ghead, N, H * H, a->head);
    MARK(n, "head bn", -1, 4 * M * a->head);
    o->bn_bwd(be, g[1], A->hx, A->hmean, A->hrstd, &m->head_bn, M, a->head, a->act);
    MARK(n, "head conv", -1, M * (2 * last + a->head));
    o->pw_bwd(be, g[0], m->head_w, g[1], A->b[nb - 1].out, N, H, last, a->head);
    int ia = 0;  // g[ia] holds the gradient w.r.t. the current block's output
    for (int i = nb - 1; i >= 0; i--) {
        const am_block_cfg *b = &a->blocks[i];
        const am_block_params *p = &m->blk[i];
        am_block_acts *B = &A->b[i];
        size_t Mi = (size_t)N * B->H * B->W, Mo = (size_t)N * B->Ho * B->Wo;
        int HWo = B->Ho * B->Wo;
        const void *in = i ? A->b[i - 1].out : A->sa;
        // Four buffers: ia (block output), ib (after the residual split), ic
        // (inside the block), id (the depthwise input), reusing ib at the end.
        int ib = b->skip ? (ia + 1) % 4 : ia;
        int ic = (ib + 1) % 4 == ia ? (ib + 2) % 4 : (ib + 1) % 4;
        int id = 0;
        while (id == ia || id == ib || id == ic) id++;
        if (b->skip) {
            MARK(n, "residual", i, 2 * Mo * b->out);
            o->residual_bwd(be, g[ib], g[ia], g[ia], B->dc, N, HWo * b->out);
        }
        MARK(n, "project bn", i, 4 * Mo * b->out);
        o->bn_bwd(be, g[ib], B->px, B->mean[2], B->rstd[2], &p->bn2, Mo, b->out, AM_ACT_NONE);
        MARK(n, "project conv", i, Mo * (2 * b->mid + b->out));
        o->pw_bwd(be, g[ic], p->project, g[ib], b->se ? B->so : B->da, N, B->Ho, b->mid, b->out);
        if (b->se) {
            MARK(n, "se", i, 3 * Mo * b->mid);
            o->se_bwd(be, g[ic], B->da, B->pooled, B->hid, B->gate, p, A, N, HWo, b->mid, b->se);
        }
        MARK(n, "dw bn", i, 4 * Mo * b->mid);
        o->bn_bwd(be, g[ic], B->dx, B->mean[1], B->rstd[1], &p->bn1, Mo, b->mid, a->act);
        MARK(n, "dw conv", i, (2 * Mi + Mo) * b->mid);
        o->dw_bwd(be, g[id], p->dw, g[ic], b->expand != 1 ? B->ea : in, N, B->H, b->mid, b->k, b->stride);
        int ie = id;
        if (b->expand != 1) {
            MARK(n, "expand bn", i, 4 * Mi * b->mid);
            o->bn_bwd(be, g[id], B->ex, B->mean[0], B->rstd[0], &p->bn0, Mi, b->mid, a->act);
            ie = ib;
            MARK(n, "expand conv", i, Mi * (2 * b->in + b->mid));
            o->pw_bwd(be, g[ie], p->expand, g[id], in, N, B->H, b->in, b->mid);
        }
        if (b->skip) {
            MARK(n, "skip add", i, 3 * Mi * b->in);
            o->add(be, g[ie], g[ia], Mi * b->in);
        }
        ia = ie;
    }
    H = A->b[0].H;
    MARK(n, "stem bn", -1, 4 * (size_t)N * H * H * a->stem);
    o->bn_bwd(be, g[ia], A->sx, A->smean, A->srstd, &m->stem_bn, (size_t)N * H * H, a->stem, a->act);
    MARK(n, "stem conv", -1, (size_t)N * H * H * a->stem + (size_t)N * A->size * A->size * a->in_ch);
    o->stem_bwd(be, m->stem_w, g[ia], A->stem_in, N, A->size, a->in_ch, a->stem);
    if (n->prof) am_prof_mark(n->prof, NULL, 0, 0.0);
}
