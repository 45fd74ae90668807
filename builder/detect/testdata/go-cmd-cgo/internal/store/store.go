package store

// Note is one note.
type Note struct{ ID int }
