# emsweep figure; redraw with: gnuplot phase.gp
$MEAN << EOD
0 0.13223791926334294 0.0927707906198583 0.18849540005273185 3
0.1 0.16213109686222885 0.07243485327441346 0.36289840292994346 3
0.2 0.14140425496776515 0.048172880303826375 0.4150709527202699 3
0.3 0.13741219904245905 0.04640992770334553 0.40685502822542086 3
0.4 0.13634031776298186 0.04719651011949267 0.3938571347891577 3
0.5 0.1346177210129919 0.05044773672789955 0.35922187963507973 3
EOD
$CELLS << EOD
0 0.14464401135396446
0 0.1425191900071431
0 0.11217451963142526
0.1 0.22505517015233034
0.1 0.1609495386492776
0.1 0.11765766682707751
0.2 0.23174350430493362
0.2 0.10300878816689137
0.2 0.11844196009904066
0.3 0.2271790226823996
0.3 0.10299386448261726
0.3 0.11089099713270756
0.4 0.22316792476842162
0.4 0.10489843670199774
0.4 0.10826102002327374
0.5 0.2123743383604682
0.5 0.10877303411601459
0.5 0.10560474206103238
EOD
set terminal pngcairo size 900,600 enhanced font 'DejaVu Sans,11'
set output 'docs/figures/phase.png'
set title "critical kl\\_weight where ood\\_bad - base\\_ood\\_bad = 0.1, by gate\\_noise"
set xlabel 'gate\_noise'
set ylabel 'critical kl\_weight'
set offsets graph 0.03, graph 0.03, graph 0.05, graph 0.05
set logscale y
set yrange [0.0062499999999999995:160]
set arrow from graph 0, first 0.01 to graph 1, first 0.01 nohead dt 2 lc rgb '#999999'
set arrow from graph 0, first 100 to graph 1, first 100 nohead dt 2 lc rgb '#999999'
set grid lc rgb '#e0e0e0'
set key outside bottom center horizontal
set tics out nomirror
set style fill transparent solid 0.18 noborder
plot $MEAN using 1:3:4 with filledcurves lc rgb '#001f77b4' notitle, \
  $MEAN using 1:2:3:4 with yerrorbars lw 1 pt 7 ps 0.9 lc rgb '#001f77b4' notitle, \
  $MEAN using 1:2 with lines lw 2 lc rgb '#001f77b4' title 'geometric mean, 95% CI', \
  $CELLS using 1:2 with points pt 6 ps 1.1 lc rgb '#00d62728' title 'cells (found)'
unset output
