package history

// EDNFormLen is ednFormLen, for the tests.
var EDNFormLen = ednFormLen
