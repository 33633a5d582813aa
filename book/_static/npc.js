// Resize plotly figures to their column once the theme has laid the page out
// (plotly sizes a figure when it is drawn; the article column settles later).
window.addEventListener("load", function () {
  if (!window.Plotly) { return; }
  document.querySelectorAll(".plotly-graph-div").forEach(function (div) {
    window.Plotly.Plots.resize(div);
  });
});
