# SPDX-License-Identifier: Apache-2.0
# Latency percentiles per scenario, ferry beside uds, for bench/results/latest.png.
# gnuplot -e "datafile='latency.dat'; outfile='latest.png'; subtitle='...'" latency.gp
# datafile: one row per scenario/wait: "label" ferry_p50 ferry_p99 ferry_p999 uds_p50 uds_p99
# uds_p999 (µs; NaN when missing). Written by bench/scripts/matrix.sh.
if (!exists("subtitle")) subtitle = ""

set terminal pngcairo size 1500,720 enhanced font "DejaVu Sans,11"
set output outfile
set encoding utf8

set title "ferry bench: latency percentiles, ferry beside Unix sockets (lower is better)\n{/*0.8 ".subtitle."}"
set ylabel "latency, µs (log scale)"
set logscale y 10
set yrange [0.1:*]
set format y "%g"
set grid ytics lc rgb "#b4b4b4" lw 1 dt solid
set mytics 10
set key outside right top vertical Left reverse samplen 2 spacing 1.3
set style data histograms
set style histogram clustered gap 1.5
set style fill solid 0.9 border rgb "#333333"
set boxwidth 0.95
set xtics nomirror scale 0
set ytics nomirror
set border 3
set xrange [-0.6:*]
set bmargin 4

plot datafile using 2:xtic(1) title "ferry p50"   lc rgb "#9ecae1", \
     ''       using 3         title "ferry p99"   lc rgb "#3182bd", \
     ''       using 4         title "ferry p99.9" lc rgb "#08306b", \
     ''       using 5         title "uds p50"     lc rgb "#fdd0a2", \
     ''       using 6         title "uds p99"     lc rgb "#f16913", \
     ''       using 7         title "uds p99.9"   lc rgb "#7f2704"
