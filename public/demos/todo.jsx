// TodoMVC in React on `todo:<id>` (handlers/todo.c): every window on the topic edits one list.
// Each edit is an op with an optimistic update (the reducers below mirror the handler), so the
// list changes at once, offline too; the server's answer replaces the guess.
import { StrictMode, useState, memo } from 'react';
import { createRoot } from 'react-dom/client';
import { StateChannelProvider, useStateChannel, useStateChannelSelector } from '../src/react.js';
import { StatusBar } from './status-react.jsx';
import { topicId, registerServiceWorker } from './common.js';
import './todo.css';

const trimmed = (s) => String(s).trim();
const mapTodo = (s, id, fn) => ({ ...s, todos: s.todos.map((t) => (t.id === id ? fn(t) : t)) });

// Optimistic updates, pure, mirroring handlers/todo.c. Items added locally get a provisional
// id (negative, so it never meets a server id) until the server's state arrives.
const reducers = {
  add: (s, p) => ({ ...s, todos: [...s.todos, { id: -(s.todos.length + 1), title: trimmed(p.title), done: false }] }),
  toggle: (s, p) => mapTodo(s, p.id, (t) => ({ ...t, done: !t.done })),
  edit: (s, p) => mapTodo(s, p.id, (t) => ({ ...t, title: trimmed(p.title) })),
  remove: (s, p) => ({ ...s, todos: s.todos.filter((t) => t.id !== p.id) }),
  toggle_all: (s) => {
    const all = s.todos.every((t) => t.done);
    return { ...s, todos: s.todos.map((t) => (t.done === !all ? t : { ...t, done: !all })) };
  },
  clear_completed: (s) => ({ ...s, todos: s.todos.filter((t) => !t.done) }),
};

const FILTERS = { all: () => true, active: (t) => !t.done, completed: (t) => t.done };

// One row; memo + structural sharing: a row re-renders only when its own item object changed.
const Item = memo(function Item({ todo, pushMessage }) {
  const [editing, setEditing] = useState(false);
  const [draft, setDraft] = useState(todo.title);
  const local = todo.id < 0;
  const save = () => {
    setEditing(false);
    if (!trimmed(draft)) pushMessage('remove', { id: todo.id });
    else if (trimmed(draft) !== todo.title) pushMessage('edit', { id: todo.id, title: draft });
  };
  return (
    <li className={`${todo.done ? 'completed' : ''} ${editing ? 'editing' : ''} ${local ? 'is-pending' : ''}`}
        data-testid="todo-item">
      <div className="view">
        <input className="toggle" type="checkbox" checked={todo.done} disabled={local}
               onChange={() => pushMessage('toggle', { id: todo.id })} />
        <label onDoubleClick={() => { if (!local) { setDraft(todo.title); setEditing(true); } }}>{todo.title}</label>
        <button className="destroy" aria-label="Delete" disabled={local}
                onClick={() => pushMessage('remove', { id: todo.id })} />
      </div>
      {editing && (
        <input className="edit" autoFocus value={draft} onChange={(e) => setDraft(e.target.value)}
               onBlur={save}
               onKeyDown={(e) => {
                 if (e.key === 'Enter') save();
                 if (e.key === 'Escape') setEditing(false);
               }} />
      )}
    </li>
  );
});

function TodoApp({ topic }) {
  const { pushMessage } = useStateChannel();
  const todos = useStateChannelSelector((s) => (s ? s.todos : undefined));
  const [filter, setFilter] = useState('all');
  const [title, setTitle] = useState('');
  const left = todos ? todos.filter((t) => !t.done).length : 0;
  const done = todos ? todos.length - left : 0;
  return (
    <main className="app">
      <StatusBar topic={topic} />
      <h1>todos</h1>
      <section className="card todoapp">
        <header>
          <input className="new-todo" type="text" placeholder="What needs to be done?" autoFocus value={title}
                 onChange={(e) => setTitle(e.target.value)}
                 onKeyDown={(e) => {
                   if (e.key === 'Enter' && trimmed(title)) {
                     pushMessage('add', { title });
                     setTitle('');
                   }
                 }} />
        </header>
        {todos === undefined && <p className="loading">Loading…</p>}
        {todos && todos.length > 0 && (
          <>
            <div className="toggle-all-row">
              <label>
                <input type="checkbox" className="toggle-all" checked={left === 0}
                       onChange={() => pushMessage('toggle_all', {})} /> Mark all as complete
              </label>
            </div>
            <ul className="todo-list">
              {todos.filter(FILTERS[filter]).map((t) => <Item key={t.id} todo={t} pushMessage={pushMessage} />)}
            </ul>
            <footer className="footer">
              <span className="todo-count" data-testid="todo-count">{left} item{left === 1 ? '' : 's'} left</span>
              <span className="filters">
                {Object.keys(FILTERS).map((f) => (
                  <button key={f} className={filter === f ? 'selected' : ''} onClick={() => setFilter(f)}>
                    {f[0].toUpperCase() + f.slice(1)}
                  </button>
                ))}
              </span>
              {done > 0 && <button className="clear-completed" onClick={() => pushMessage('clear_completed', {})}>
                Clear completed</button>}
            </footer>
          </>
        )}
      </section>
      <p className="hint">Double-click a todo to edit it. Open this page in a second window: both edit one list.</p>
    </main>
  );
}

const id = topicId();
const topic = `todo:${id}`;
createRoot(document.getElementById('root')).render(
  <StrictMode>
    <StateChannelProvider url="/socket" topic={topic} reducers={reducers}>
      <TodoApp topic={topic} />
    </StateChannelProvider>
  </StrictMode>,
);
registerServiceWorker();
