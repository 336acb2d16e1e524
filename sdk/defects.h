/* defects.h — a defective wafer: dead PEs and dead links on the physical
** array, and the layout that lays a program's logical w x h rectangle around
** them with spare rows and columns, as the WSE's redundancy does (software
** sees a perfect rectangle; docs/REFERENCE.md, "Defects"). Kernels and host
** code keep logical coordinates; only the cycles change: a logical link that
** skips a dead PE or detours around a dead router or link is several
** physical hops long (wf_fabric_set_link_hops).
**
** The physical array is (w + spare_cols) x (h + spare_rows).
** Scheme (docs/sdk.md, "Defects"):
**   1. a physical row with more dead PEs than spare columns is skipped whole
**      (it uses a spare row); logical row y is the y-th row kept;
**   2. in its row, logical column x is the x-th live PE (a dead PE shifts the
**      rest of the row one column east, into a spare column);
**   3. each logical link costs the shortest physical path between its two
**      PEs through live routers and live links (a dead core's router still
**      forwards; `router` defects and dead links force a detour).
**
** Defect file (text, one entry a line; '#' starts a comment; blank lines
** ignored; coordinates are physical, x = column, y = row, 0-based):
**   spare-cols N      spare columns, 0..256 (default 1 + w/100: the WSE's ~1% spares)
**   spare-rows N      spare rows, 0..256 (default 1 + h/100)
**   pe X Y            a dead core; its router still forwards wavelets
**   router X Y        a dead PE whose router is dead too: wavelets go around
**   link X Y DIR      the link from PE (X,Y) to its neighbour DIR (N, S, E, W
**                     or NORTH, SOUTH, EAST, WEST) is dead, both directions
** A bad line fails with "FILE:LINE: <problem>"; coordinates outside the
** physical array fail when the map is laid (then w, h are known), naming
** the line. */
#ifndef WF_SDK_DEFECTS_H
#define WF_SDK_DEFECTS_H

#include "../fabric/fabric.h"

#ifdef __cplusplus
extern "C" { /* C++ callers: the libraries are C */
#endif

typedef struct wf_defects wf_defects;

/* Reads a defect file (format above); memory from the default heap. */
wf_status wf_defects_load(const char *path, wf_defects **out, wf_err *err);
/* The same from text[0..n) (need not end in 0); name is used in messages. */
wf_status wf_defects_parse(const char *text, size_t n, const char *name, wf_defects **out, wf_err *err);
/* Random defects, drawn when laid (the physical size depends on the program):
** each physical PE's core is dead with probability rate, each physical link
** with probability rate / 4 (xorshift from seed; the same seed, rate and
** size give the same map). rate in [0, 0.5]. */
wf_status wf_defects_random(uint64_t seed, double rate, wf_defects **out, wf_err *err);
/* Overrides the spare columns / rows (< 0 keeps what the file or the default says). */
void wf_defects_set_spares(wf_defects *d, int cols, int rows);
void wf_defects_free(wf_defects *d); /* NULL is a no-op */

/* What laying a program rectangle around the defects took. */
typedef struct {
    int w, h;                /* the logical program rectangle */
    int pw, ph;              /* the physical array: w + spare_cols, h + spare_rows */
    int spare_cols, spare_rows;
    int dead_pes;            /* dead cores in the physical array (router defects included) */
    int dead_routers;        /* of those, with a dead router */
    int dead_links;
    int spare_cols_used;     /* most dead PEs skipped in one kept row */
    int spare_rows_used;     /* physical rows skipped above the last kept row */
    int detour_links;        /* logical links longer than one physical hop */
    int max_hops;            /* the longest logical link, physical hops */
    uint64_t extra_hops;     /* sum over logical links of (hops - 1) */
} wf_defect_stats;

typedef struct wf_defect_map wf_defect_map;
/* Lays a w x h program rectangle around d's defects. WF_ERANGE naming the
** file line when a defect lies outside the physical array; WF_ESHAPE when
** the spares do not suffice ("defects: 3 rows have more than 1 dead PE
** (spare columns); they need 3 spare rows, 2 available"), or when dead
** routers and links cut a logical link off. */
wf_status wf_defects_map(const wf_defects *d, int w, int h, wf_defect_map **out, wf_err *err);
void wf_defect_map_free(wf_defect_map *m); /* NULL is a no-op */
const wf_defect_stats *wf_defect_map_stats(const wf_defect_map *m);
/* Physical position of logical PE (x,y). */
void wf_defect_map_where(const wf_defect_map *m, int x, int y, int *px, int *py);
/* Physical hops of the logical link leaving (x,y) by port (WF_PORT_N..W);
** 0 when it leaves the rectangle. */
int wf_defect_map_hops(const wf_defect_map *m, int x, int y, int port);
/* Sets every logical link longer than one hop on fabric f (the logical
** w x h, not yet loaded): wf_fabric_set_link_hops. */
wf_status wf_defect_map_apply(const wf_defect_map *m, wf_fabric *f, wf_err *err);
/* A small picture of the map, rows of the physical array: '.' a PE in use,
** 'x' a dead core, 'X' a dead router, 's' an unused spare, '-' a skipped
** row's live PE. At most max_w x max_h characters (the top-left corner),
** lines ending in '\n'; returns buf. */
const char *wf_defect_map_draw(const wf_defect_map *m, int max_w, int max_h, char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif
