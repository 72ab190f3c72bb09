var exports = {};
function require() { return {}; }
