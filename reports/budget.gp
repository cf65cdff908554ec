# Best and runner-up cell per memory budget (ecbench report).
# usage: gnuplot -c budget.gp DATA OUT TITLE YLABEL
#   DATA: a '#' header line, then one tab-separated row per budget:
#         budget  best  best_label  runner_up  runner_up_label  top
#         (NaN when nothing fits; top = the higher bar, 0 when none).
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
set ylabel ARG4
set xlabel "memory budget"
# column 6 (the row's highest bar, 0 when nothing fits) is always numeric
stats data using 6 nooutput
nrow = STATS_records
ymax = (STATS_max > 0) ? STATS_max : 1
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
