namespace ngxlite {}
