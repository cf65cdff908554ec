# Quality against corpus size (ecbench report).
# usage: gnuplot -c corpus.gp DATA OUT TITLE XLABEL YLABEL
#   DATA: tab-separated blocks (two blank lines apart), one per cell label,
#         each a title line then rows "corpus_size<TAB>quality".
data = ARG1
out = ARG2
if (strlen(out) > 4 && out[strlen(out)-2:] eq "svg") {
    set terminal svg size 1100,680 dynamic noenhanced font "DejaVu Sans,14" background "white"
} else {
    set terminal pngcairo size 1100,680 noenhanced font "DejaVu Sans,13"
}
set output out
set datafile separator "\t"
set title ARG3 font ",15"
set xlabel ARG4
set ylabel ARG5
set logscale x 10
set format x "%g"
set grid back lc rgb "#dddddd"
set border 3
set tics nomirror
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
stats data using 1 nooutput
nb = STATS_blocks
# Legend in a box under the plot: 3 columns, bottom margin sized to its rows.
nrows = int((nb + 2) / 3)
set bmargin (4.5 + nrows * 1.3)
set key at screen 0.5, screen 0.015 center bottom horizontal maxcols 3 Left reverse spacing 1.15 width 1 box lc rgb "#bbbbbb"
array pts[8] = [7, 5, 9, 11, 13, 15, 4, 6]
array cols[10] = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"]
# tics at the measured corpus sizes (block 0 holds every size)
plot data index 0 using 1:(NaN):xtic(sprintf("%.0f", $1)) notitle, \
     for [i=0:nb-1] data index i using 1:2 with linespoints lw 2 pt pts[i%8+1] ps 1.5 \
         lc rgb cols[i%10+1] title columnheader(1)
