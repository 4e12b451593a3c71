module github.com/berth-run/berth

go 1.26.8
