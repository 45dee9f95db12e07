export { chartGroup, chartsSvg, table, type ChartSpec, type Series } from './chart.js';
export { svgToPng, writeSvgAndPng } from './png.js';
