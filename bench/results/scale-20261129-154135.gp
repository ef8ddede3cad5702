# scale-20261129-154135: gnuplot script of bench/scale_bench.py (data: /work/main/bench/results/scale-20261129-154135.dat)
set terminal svg size 800,500 dynamic font "sans,12"
set grid
set key top left
set output "/work/main/bench/results/scale-20261129-154135-idle.svg"
set title "sekisho-smtpd: memory per idle connection"
set xlabel "open idle connections"
set ylabel "KB per connection (Private)"
set yrange [0:*]
set xrange [0:*]
plot "/work/main/bench/results/scale-20261129-154135.dat" index 0 using 1:2 with linespoints lw 2 title "smtp child", \
     "" index 0 using 1:3 with linespoints lw 2 title "all sekisho processes"
set output "/work/main/bench/results/scale-20261129-154135-sessions.svg"
set title "relay rate as sessions grow (5 KB, one session per message)"
set xlabel "parallel smtp-source sessions"
set ylabel "messages/s end to end"
set logscale x
set xrange [*:*]
plot "/work/main/bench/results/scale-20261129-154135.dat" index 1 using 1:2 with linespoints lw 2 title "sekisho-smtpd", \
     "" index 1 using 1:3 with linespoints lw 2 title "postfix", \
     "" index 1 using 1:4 with linespoints lw 2 title "sekisho, GroupCommit=0"
set output "/work/main/bench/results/scale-20261129-154135-size.svg"
set title "time per message as the size grows (relay, end to end)"
set xlabel "message size, KB"
set ylabel "ms per message (wall / messages)"
set logscale xy
set yrange [*:*]
plot "/work/main/bench/results/scale-20261129-154135.dat" index 2 using 1:2 with linespoints lw 2 title "sekisho-smtpd", \
     "" index 2 using 1:3 with linespoints lw 2 title "postfix"
