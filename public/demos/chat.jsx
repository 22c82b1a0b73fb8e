// A chat room in React on `chat:<room>` (handlers/chat.c): messages, who is online (presence
// from the joins) and who is typing. Messages are optimistic ops (shown greyed until the
// server has them); typing notices are sent only while online, as they are stale once queued.
import { StrictMode, useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { StateChannelProvider, useStateChannel } from '../src/react.js';
import { StatusBar } from './status-react.jsx';
import { topicId, registerServiceWorker } from './common.js';
import './chat.css';

/** Ms between two typing notices while keys are pressed: the handler keeps "typing" for 3 s. */
const TYPING_EVERY_MS = 1500;

function myName() {
  let name = localStorage.getItem('sc-chat-name');
  if (!name) {
    name = `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
    localStorage.setItem('sc-chat-name', name);
  }
  return name;
}

// The optimistic message: shown greyed until the server's copy arrives.
const sayAs = (who) => (s, p) => ({
  ...s,
  messages: [...s.messages, { id: `local-${s.messages.length}`, from: '', name: who,
                              text: String(p.text).trim(), at: Date.now(), local: true }],
});
// For messages reloaded from the outbox after a reload (no closure over the name survives).
const reducers = { say: sayAs('me') };

function Chat({ topic, name }) {
  const { state, pushMessage, status } = useStateChannel();
  const [text, setText] = useState('');
  const lastTyping = useRef(0);
  const list = useRef(null);
  const messages = state ? state.messages : [];
  useEffect(() => {
    if (list.current) list.current.scrollTop = list.current.scrollHeight;
  }, [messages.length]);
  const online = state ? Object.values(state.online || {}) : [];
  const typing = state ? Object.values(state.typing || {}).filter((t) => t.name !== name) : [];
  const send = (e) => {
    e.preventDefault();
    if (!text.trim()) return;
    pushMessage('say', { text }, { optimistic: sayAs(name) });
    setText('');
    lastTyping.current = 0;
  };
  const onType = (e) => {
    setText(e.target.value);
    const now = Date.now();
    if (status === 'online' && now - lastTyping.current > TYPING_EVERY_MS) {
      lastTyping.current = now;
      pushMessage('typing', {});
    }
  };
  return (
    <main className="app">
      <StatusBar topic={topic} />
      <h1>Chat</h1>
      <div className="chat">
        <section className="card messages" ref={list} data-testid="messages">
          {state === undefined && <p className="muted">Loading…</p>}
          {messages.map((m) => (
            <p key={m.id} className={`msg ${m.local ? 'is-pending' : ''} ${m.name === name ? 'mine' : ''}`}>
              <b>{m.name}</b> <span className="text">{m.text}</span>
              <time>{new Date(m.at).toLocaleTimeString()}</time>
            </p>
          ))}
        </section>
        <aside className="card people">
          <h2>Online ({online.length})</h2>
          <ul>{online.map((p, i) => <li key={`${p.name}-${i}`}><span className="dot" /> {p.name}</li>)}</ul>
          <p className="muted">You are <b>{name}</b>{' '}
            <button className="link" onClick={() => {
              const n = prompt('Your name', name);
              if (n && n.trim()) { localStorage.setItem('sc-chat-name', n.trim()); location.reload(); }
            }}>rename</button>
          </p>
        </aside>
      </div>
      <p className="typing" data-testid="typing">
        {typing.length > 0 ? `${typing.map((t) => t.name).join(', ')} ${typing.length === 1 ? 'is' : 'are'} typing…` : '\u00a0'}
      </p>
      <form className="composer" onSubmit={send}>
        <input type="text" placeholder="Say something" value={text} onChange={onType} aria-label="Message" />
        <button className="primary" type="submit">Send</button>
      </form>
    </main>
  );
}

const topic = `chat:${topicId('lobby')}`;
const name = myName();
createRoot(document.getElementById('root')).render(
  <StrictMode>
    <StateChannelProvider url="/socket" topic={topic} params={{ name }} reducers={reducers}>
      <Chat topic={topic} name={name} />
    </StateChannelProvider>
  </StrictMode>,
);
registerServiceWorker();
