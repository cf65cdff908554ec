# Throughput against quality (ecbench report).
# usage: gnuplot -c qps.gp DATA OUT TITLE XLABEL YLABEL ["VARIANTS"]
#   DATA: tab-separated blocks (two blank lines apart), one per method
#         family (one colour each), each a title line then rows
#         "quality<TAB>qps<TAB>label<TAB>variant" (variant: the point shape,
#         0 symmetric, 1 asymmetric, 2/3 the same with rescoring).
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
set logscale y 10
set format y "%g"
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
set offsets graph 0.04, graph 0.04, 0, 0
variants = (ARGC >= 6) ? ARG6 : ""
vpt(v) = (v == 0) ? 7 : (v == 1) ? 6 : (v == 2) ? 9 : 8
vptn(s) = (s eq "symmetric") ? 7 : (s eq "asymmetric") ? 6 : (s eq "symmetric+rescore") ? 9 : 8
stats data using 1 nooutput
nb = STATS_blocks
# Legend in a box under the plot: 3 columns, bottom margin sized to its rows.
nent = nb + words(variants)
nrows = int((nent + 2) / 3)
set bmargin (4.5 + nrows * 1.3)
set key at screen 0.5, screen 0.015 center bottom horizontal maxcols 3 Left reverse spacing 1.15 width 1 box lc rgb "#bbbbbb"
array cols[10] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
plot for [i=0:nb-1] data index i using 1:(NaN) with points pt 5 ps 1.8 \
         lc rgb cols[i%10+1] title columnheader(1), \
     for [i=0:nb-1] data index i using 1:2:(vpt($4)) with points pt variable ps 1.8 \
         lc rgb cols[i%10+1] notitle, \
     for [w in variants] NaN with points pt vptn(w) ps 1.8 lc rgb "black" title w
