# Quality against size with the Pareto frontier (ecbench report).
# usage: gnuplot -c pareto.gp DATA OUT TITLE XLABEL YLABEL [logx|linx] ["B1 B2 ..."] ["VARIANTS"]
#   DATA: tab-separated blocks separated by two blank lines; block 0 is the
#         frontier, the others one method family each (one colour each).
#         Each block starts with a title line, then rows
#         "x<TAB>y<TAB>label<TAB>variant" (variant 0 symmetric, 1 asymmetric,
#         2 symmetric + rescoring, 3 asymmetric + rescoring: the point shape).
#   OUT:  *.png (pngcairo) or *.svg.
#   B1 B2 ...: optional x positions drawn as dashed vertical lines (the
#         memory budgets, in bytes per vector).
#   VARIANTS: the variant names to explain in the legend ("" = none).
data = ARG1
out = ARG2
if (strlen(out) > 4 && out[strlen(out)-2:] eq "svg") {
    set terminal svg size 1100,750 dynamic noenhanced font "DejaVu Sans,14" background "white"
} else {
    set terminal pngcairo size 1100,750 noenhanced font "DejaVu Sans,13"
}
set output out
set datafile separator "\t"
set title ARG3 font ",15"
set xlabel ARG4
set ylabel ARG5
if (ARGC >= 6 && ARG6 eq "logx") { set logscale x 2 }
set format x "%g"
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
set offsets graph 0.04, graph 0.12, graph 0.10, graph 0.05
if (ARGC >= 7 && strlen(ARG7) > 0) {
    do for [w in ARG7] {
        set arrow from (w+0), graph 0 to (w+0), graph 1 nohead dt 2 lw 1.2 lc rgb "#999999" back
        set label sprintf("%s B", w) at (w+0), graph 1 offset 0.4,-0.9 left tc rgb "#777777" font ",11"
    }
}
variants = (ARGC >= 8) ? ARG8 : ""
vpt(v) = (v == 0) ? 7 : (v == 1) ? 6 : (v == 2) ? 9 : 8
vptn(s) = (s eq "symmetric") ? 7 : (s eq "asymmetric") ? 6 : (s eq "symmetric+rescore") ? 9 : 8
stats data using 1 nooutput
nb = STATS_blocks
# Legend in a box under the plot: 3 columns, bottom margin sized to its rows.
nent = (nb - 1) + 1 + words(variants)
nrows = int((nent + 2) / 3)
set bmargin (4.5 + nrows * 1.3)
set key at screen 0.5, screen 0.015 center bottom horizontal maxcols 3 Left reverse spacing 1.15 width 1 box lc rgb "#bbbbbb"
stats data index 0 using 1 nooutput
nfront = STATS_records
array cols[10] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
# Frontier labels only while they can stay legible.
labrot = (nfront <= 12) ? 20 : 0
plot data index 0 using 1:2 with lines lw 2.5 lc rgb "#333333" title "Pareto frontier", \
     for [i=1:nb-1] data index i using 1:(NaN) with points pt 5 ps 1.8 \
         lc rgb cols[(i-1)%10+1] title columnheader(1), \
     for [i=1:nb-1] data index i using 1:2:(vpt($4)) with points pt variable ps 1.8 \
         lc rgb cols[(i-1)%10+1] notitle, \
     for [w in variants] NaN with points pt vptn(w) ps 1.8 lc rgb "black" title w, \
     data index 0 using 1:2:(nfront <= 12 ? stringcolumn(3) : "") with labels left rotate by labrot \
         offset 0.8,0.7 font ",10" tc rgb "#222222" notitle
