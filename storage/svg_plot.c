/* svg_plot.c — line charts written as SVG text (see svg_plot.h). Layout is fixed-size panels in
 * a row; coordinates are printed with one decimal. It must never print a non-finite number or
 * unescaped text into the document. */
#include "storage/svg_plot.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Plot area inside a panel: room on the left for tick labels and the y label, at the bottom for
 * x tick labels and the x label, at the top for the panel title. */
enum { MARGIN_LEFT = 62, MARGIN_RIGHT = 16, MARGIN_TOP = 50, MARGIN_BOTTOM = 46, MAX_TICKS = 6 };

static const char *const COLORS[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                     "#8c564b"};

static void put_escaped(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&apos;", out); break;
        default:
            /* control characters are not allowed in XML 1.0 */
            fputc((unsigned char)*s < 0x20 ? ' ' : *s, out);
        }
    }
}

/* A tick label: SI suffix for large values (bytes), else up to 4 significant digits. */
static void format_value(char *buf, size_t n, double v)
{
    static const char *const SI[] = {"", "k", "M", "G", "T", "P"};
    double a = fabs(v);
    if (a >= 1e4) {
        int k = 0;
        while (a >= 1000 && k < 5) {
            a /= 1000;
            v /= 1000;
            k++;
        }
        snprintf(buf, n, "%.3g%s", v, SI[k]);
    } else {
        snprintf(buf, n, "%.4g", fabs(v) < 1e-12 ? 0.0 : v);
    }
}

size_t svg_nice_ticks(double *lo, double *hi, int max_ticks, int integer_only, double *out)
{
    if (max_ticks < 2)
        max_ticks = 2;
    if (!(*hi > *lo)) { /* one value (or none): open a window around it */
        double c = isfinite(*lo) ? *lo : 0, half = fabs(c) > 0 ? fabs(c) * 0.1 : 0.5;
        if (integer_only && half < 1)
            half = 1;
        *lo = c - half;
        *hi = c + half;
    }
    double raw = (*hi - *lo) / (max_ticks - 1);
    if (!(raw > 0) || !isfinite(raw)) { /* a window too narrow or too wide to subdivide */
        out[0] = *lo;
        out[1] = *hi;
        return 2;
    }
    double p = pow(10, floor(log10(raw))), step = 10 * p;
    static const double MULT[] = {1, 2, 5};
    for (int i = 0; i < 3; i++)
        if (MULT[i] * p >= raw) {
            step = MULT[i] * p;
            break;
        }
    if (integer_only && step < 1)
        step = 1;
    /* the outer ticks may leave more than max_ticks: widen the step until they fit */
    size_t count;
    double first, last;
    for (;;) {
        first = floor(*lo / step + 1e-9) * step;
        last = ceil(*hi / step - 1e-9) * step;
        count = (size_t)llround((last - first) / step) + 1;
        if ((int)count <= max_ticks)
            break;
        step *= 2;
    }
    for (size_t i = 0; i < count; i++)
        out[i] = first + step * (double)i;
    /* the 1e-9 slack keeps a bound that sits on a tick from adding one; the window still
     * covers the data when the slack rounds a tick past it */
    *lo = fmin(first, *lo);
    *hi = fmax(last, *hi);
    return count;
}

typedef struct frame {
    double x0, y0, w, h;         /* plot area in SVG units */
    double xlo, xhi, ylo, yhi;   /* data window */
} frame;

static double px(const frame *f, double x)
{
    return f->x0 + (x - f->xlo) / (f->xhi - f->xlo) * f->w;
}

static double py(const frame *f, double y)
{
    return f->y0 + f->h - (y - f->ylo) / (f->yhi - f->ylo) * f->h;
}

static double x_at(const svg_series *s, size_t i)
{
    return s->x ? s->x[i] : (double)i;
}

static bool point_ok(const svg_series *s, size_t i)
{
    return isfinite(x_at(s, i)) && isfinite(s->y[i]);
}

/* The data window of a panel; false when it has no finite point. */
static bool data_window(const svg_panel *p, frame *f)
{
    bool any = false;
    for (size_t k = 0; k < p->n_series; k++)
        for (size_t i = 0; i < p->series[k].n; i++) {
            if (!point_ok(&p->series[k], i))
                continue;
            double x = x_at(&p->series[k], i), y = p->series[k].y[i];
            if (!any) {
                f->xlo = f->xhi = x;
                f->ylo = f->yhi = y;
                any = true;
            }
            f->xlo = fmin(f->xlo, x);
            f->xhi = fmax(f->xhi, x);
            f->ylo = fmin(f->ylo, y);
            f->yhi = fmax(f->yhi, y);
        }
    if (any && p->y_zero) {
        f->ylo = fmin(f->ylo, 0);
        f->yhi = fmax(f->yhi, 0);
    }
    if (!any) {
        f->xlo = 0;
        f->xhi = 1;
        f->ylo = 0;
        f->yhi = 1;
    }
    return any;
}

static void draw_axes(FILE *out, const svg_panel *p, frame *f)
{
    double xt[64], yt[64];
    size_t nx = svg_nice_ticks(&f->xlo, &f->xhi, MAX_TICKS, p->integer_x, xt);
    size_t ny = svg_nice_ticks(&f->ylo, &f->yhi, MAX_TICKS, 0, yt);
    char label[32];
    fprintf(out, "<g class=\"axes\" font-size=\"11\" fill=\"#333\">\n");
    for (size_t i = 0; i < ny; i++) {
        double y = py(f, yt[i]);
        format_value(label, sizeof label, yt[i]);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                f->x0, y, f->x0 + f->w, y, f->x0 - 6, y + 4, label);
    }
    for (size_t i = 0; i < nx; i++) {
        double x = px(f, xt[i]);
        format_value(label, sizeof label, xt[i]);
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, f->y0 + f->h, x, f->y0 + f->h + 5, x, f->y0 + f->h + 18, label);
    }
    fprintf(out,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            f->x0, f->y0, f->w, f->h);
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", f->x0 + f->w / 2,
            f->y0 + f->h + 36);
    put_escaped(out, p->x_label);
    double cy = f->y0 + f->h / 2, cx = f->x0 - 48;
    fprintf(out,
            "</text>\n<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 %.1f %.1f)\">",
            cx, cy, cx, cy);
    put_escaped(out, p->y_label);
    fprintf(out, "</text>\n</g>\n");
}

static void draw_series(FILE *out, const svg_series *s, const char *color, const frame *f)
{
    fprintf(out, "<g class=\"series\" stroke=\"%s\" fill=\"%s\">\n", color, color);
    bool open = false;
    for (size_t i = 0; i <= s->n; i++) {
        bool ok = i < s->n && point_ok(s, i);
        if (ok && !open)
            fprintf(out, "<polyline fill=\"none\" stroke-width=\"2\" points=\"");
        if (ok)
            fprintf(out, "%s%.1f,%.1f", open ? " " : "", px(f, x_at(s, i)), py(f, s->y[i]));
        if (!ok && open)
            fprintf(out, "\"/>\n");
        open = ok;
    }
    for (size_t i = 0; i < s->n; i++)
        if (point_ok(s, i))
            fprintf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" stroke=\"none\"/>\n",
                    px(f, x_at(s, i)), py(f, s->y[i]));
    fprintf(out, "</g>\n");
}

/* One row of swatches and names between the panel title and the plot area, where it can never
 * hide a point. */
static void draw_legend(FILE *out, const svg_panel *p, const frame *f)
{
    double x = f->x0, y = f->y0 - 8;
    fprintf(out, "<g class=\"legend\" font-size=\"11\">\n");
    for (size_t k = 0; k < p->n_series; k++) {
        const char *name = p->series[k].name ? p->series[k].name : "";
        fprintf(out,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"2\"/>\n<text x=\"%.1f\" y=\"%.1f\" fill=\"#333\">",
                x, y - 4, x + 16, y - 4, COLORS[k % (sizeof COLORS / sizeof *COLORS)], x + 20, y);
        put_escaped(out, name);
        fprintf(out, "</text>\n");
        x += 34 + 6.2 * (double)strlen(name);
    }
    fprintf(out, "</g>\n");
}

static void draw_panel(FILE *out, const svg_panel *p, double left, double top)
{
    frame f = {.x0 = left + MARGIN_LEFT,
               .y0 = top + MARGIN_TOP,
               .w = SVG_PANEL_WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
               .h = SVG_PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM};
    bool any = data_window(p, &f);
    fprintf(out, "<g class=\"panel\" font-family=\"sans-serif\">\n");
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\" "
                 "text-anchor=\"middle\">", f.x0 + f.w / 2, top + 20);
    put_escaped(out, p->title);
    fprintf(out, "</text>\n");
    draw_axes(out, p, &f);
    for (size_t k = 0; k < p->n_series; k++)
        draw_series(out, &p->series[k], COLORS[k % (sizeof COLORS / sizeof *COLORS)], &f);
    if (any)
        draw_legend(out, p, &f);
    else
        fprintf(out,
                "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" fill=\"#888\" "
                "text-anchor=\"middle\">no data</text>\n",
                f.x0 + f.w / 2, f.y0 + f.h / 2);
    fprintf(out, "</g>\n");
}

fp_status svg_plot_write(FILE *out, const char *title, const svg_panel *panels, size_t n_panels,
                         fp_error *err)
{
    if (!n_panels || !panels)
        return fp_fail(err, FP_EINVAL, "svg plot: no panels");
    for (size_t i = 0; i < n_panels; i++)
        if (panels[i].n_series && !panels[i].series)
            return fp_fail(err, FP_EINVAL, "svg plot: panel %zu has no series array", i);
    double width = (double)SVG_PANEL_WIDTH * (double)n_panels;
    double height = SVG_PANEL_HEIGHT + SVG_TITLE_HEIGHT;
    fprintf(out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
            "viewBox=\"0 0 %.0f %.0f\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
            "<text x=\"%.1f\" y=\"22\" font-family=\"sans-serif\" font-size=\"15\" "
            "text-anchor=\"middle\">",
            width, height, width, height, width / 2);
    put_escaped(out, title);
    fprintf(out, "</text>\n");
    for (size_t i = 0; i < n_panels; i++)
        draw_panel(out, &panels[i], (double)SVG_PANEL_WIDTH * (double)i, SVG_TITLE_HEIGHT);
    fprintf(out, "</svg>\n");
    if (fflush(out) != 0 || ferror(out))
        return fp_fail(err, FP_EIO, "svg plot: write failed");
    return FP_OK;
}
