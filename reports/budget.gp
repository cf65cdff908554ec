# Best and runner-up cell per memory budget (ecbench report).
# usage: gnuplot -c budget.gp DATA OUT TITLE YLABEL
#   DATA: a '#' header line, then one tab-separated row per budget:
#         budget  best  best_label  runner_up  runner_up_label
#         (NaN when nothing fits).
data = ARG1
out = ARG2
if (strlen(out) > 4 && out[strlen(out)-3:] eq "svg") {
    set terminal svg size 1100,680 dynamic noenhanced font "DejaVu Sans,14" background "white"
} else {
    set terminal pngcairo size 1100,680 noenhanced font "DejaVu Sans,13"
}
set output out
set datafile separator "\t"
set title ARG3 font ",15"
set ylabel ARG4
set xlabel "memory budget"
stats data using 2 nooutput
nrow = STATS_records + STATS_invalid
ymax = STATS_max
stats data using 4 nooutput
if (STATS_max > ymax) { ymax = STATS_max }
set yrange [0:ymax * 1.22]
set xrange [-0.6:nrow - 0.4]
set style fill solid 0.9 border lc rgb "#555555"
set boxwidth 0.38
set grid ytics back lc rgb "#dddddd"
set border 3
set tics nomirror
set xtics scale 0
set key inside top left horizontal Left reverse box lc rgb "#bbbbbb"
plot data using 0:(NaN):xtic(1) notitle, \
     data using ($0-0.2):2 with boxes lc rgb "#4a90c8" title "best", \
     data using ($0+0.2):4 with boxes lc rgb "#b9d3ea" title "runner-up", \
     data using ($0-0.2):(0):3 with labels rotate by 90 left offset 0,0.6 font ",11" notitle, \
     data using ($0+0.2):(0):5 with labels rotate by 90 left offset 0,0.6 font ",11" notitle, \
     data using ($0-0.2):2:(sprintf("%.3f", $2)) with labels offset 0,0.7 font ",11" notitle, \
     data using ($0+0.2):4:(sprintf("%.3f", $4)) with labels offset 0,0.7 font ",11" notitle
