#!/bin/sh
# texcheck.sh FILE.tex...: compile each LaTeX table ecbench wrote, wrapped in
# a minimal document, with pdflatex (halt on the first error). booktabs is
# used when installed (texlive-latex-recommended), else its three rules are
# defined as \hline, so texlive-latex-base alone is enough. Exit 0 when all
# compile, 1 (printing the log's error) when one does not, 77 when pdflatex
# is not installed.
command -v pdflatex >/dev/null 2>&1 || { echo "SKIP: pdflatex not installed (texlive-latex-base)"; exit 77; }
work=$(mktemp -d /tmp/ecb-texcheck.XXXXXX)
trap 'rm -rf "$work"' EXIT
status=0
for f in "$@"; do
    cp "$f" "$work/table.tex"
    cat >"$work/doc.tex" <<'TEX'
\documentclass{article}
\IfFileExists{booktabs.sty}{\usepackage{booktabs}}{%
  \newcommand\toprule{\hline}\newcommand\midrule{\hline}\newcommand\bottomrule{\hline}}
\begin{document}
\input{table.tex}
\end{document}
TEX
    if ! (cd "$work" && pdflatex -interaction=nonstopmode -halt-on-error doc.tex >/dev/null 2>&1); then
        echo "texcheck: $f does not compile:" >&2
        grep -A6 '^!' "$work/doc.log" >&2
        status=1
    elif grep -q 'Missing character' "$work/doc.log"; then
        echo "texcheck: $f: characters missing from the font:" >&2
        grep 'Missing character' "$work/doc.log" >&2
        status=1
    fi
    rm -f "$work"/doc.*
done
exit $status
