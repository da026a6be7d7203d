/* svg_plot.h — small line charts as a standalone SVG file, in plain C (no plotting library).
 *
 * A figure is a title over a row of panels; a panel is one chart with its own axes (ticks at
 * 1-2-5 steps, labels), a legend, and one or more series. Each series is drawn as one <polyline>
 * per run of consecutive finite points (a NaN breaks the line) and one <circle> per finite
 * point, so a single point still shows. Used by `fedpep plot`; knows nothing of databases.
 * This module must never read anything but its arguments, and never write an invalid document
 * (text is XML-escaped, every number finite). */
#ifndef FEDPEP_STORAGE_SVG_PLOT_H
#define FEDPEP_STORAGE_SVG_PLOT_H

#include <stddef.h>
#include <stdio.h>

#include "common/status.h"

typedef struct svg_series {
    const char *name; /* legend label */
    const double *x;  /* n abscissae; NULL = 0, 1, ..., n-1 */
    const double *y;  /* n ordinates; NaN or Inf = no point there */
    size_t n;
} svg_series;

typedef struct svg_panel {
    const char *title;
    const char *x_label;
    const char *y_label;
    const svg_series *series;
    size_t n_series;
    int integer_x; /* x ticks at whole numbers only (rounds) */
    int y_zero;    /* the y axis includes 0 (sizes and losses, so growth reads true) */
} svg_panel;

/* Panel size in SVG user units (pixels). */
enum { SVG_PANEL_WIDTH = 380, SVG_PANEL_HEIGHT = 290, SVG_TITLE_HEIGHT = 34 };

/* Writes the figure to out. A panel with no finite point is drawn with empty axes and "no
 * data". FP_EINVAL for n_panels == 0 or a NULL series array with n_series > 0; FP_EIO when
 * the stream fails. */
fp_status svg_plot_write(FILE *out, const char *title, const svg_panel *panels, size_t n_panels,
                         fp_error *err);

/* Tick positions covering [lo, hi] at a 1-2-5 step, at most max_ticks of them (>= 2), widening
 * [lo, hi] to the outer ticks: *lo, *hi are updated, ticks written to out, count returned. With
 * integer_only the step is at least 1. */
size_t svg_nice_ticks(double *lo, double *hi, int max_ticks, int integer_only, double *out);

#endif
