#!/usr/bin/env bash
# Builds xlchat and shows what it does on examples/sales.xlsx: the outline, a SQL answer with
# the cells it rests on, search, and a question to the model (when one is reachable).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product xlchat >&2
x=.build/release/xlchat
export XLCHAT_DATA_DIR="${XLCHAT_DATA_DIR:-$(mktemp -d)}"
set -x
$x open examples/sales.xlsx
$x query examples/sales.xlsx 'SELECT Region, round(sum(Revenue), 2) AS revenue FROM Orders_2024 GROUP BY Region ORDER BY revenue DESC'
$x query examples/sales.xlsx 'SELECT "Order", Product, Revenue FROM Orders_2024 ORDER BY Revenue DESC LIMIT 3'
$x index examples/sales.xlsx --search 'sprocket orders in the west'
if $x help ask >/dev/null 2>&1; then
  $x ask examples/sales.xlsx 'Which region had the highest revenue, and how much?' || true
fi
