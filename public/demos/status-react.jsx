// Connection status for the React demos: a badge, the pending count, the last error, and a
// banner that appears only when the connection has been down for BANNER_DELAY_MS.
import { useEffect, useState } from 'react';
import { useStateChannel } from '../src/react.js';
import { BANNER_DELAY_MS, STATUS_LABEL } from './common.js';

function useDelayed(flag, ms) {
  const [shown, setShown] = useState(false);
  useEffect(() => {
    if (!flag) { setShown(false); return undefined; }
    const t = setTimeout(() => setShown(true), ms);
    return () => clearTimeout(t);
  }, [flag, ms]);
  return flag && shown;
}

export function StatusBar({ topic }) {
  const { status, pending, error } = useStateChannel();
  const down = status === 'reconnecting' || status === 'connecting';
  const banner = useDelayed(down, BANNER_DELAY_MS);
  return (
    <>
      {banner && <div className="banner" role="status">Reconnecting… your changes are kept and will be sent.</div>}
      {status === 'offline' && (
        <div className="banner offline" role="status">Offline — edits are saved on this device and sync when you are back.</div>
      )}
      <div className="statusbar" data-testid="status" data-status={status} data-pending={pending}>
        <span className={`badge ${status}`}>{STATUS_LABEL[status]}</span>
        <span className="topic">{topic}</span>
        {pending > 0 && <span className="pending">{pending} change{pending === 1 ? '' : 's'} waiting to sync</span>}
        {error && <span className="error" title={error.message}>Last error: {error.reason}</span>}
        <a href="./index.html">all demos</a>
      </div>
    </>
  );
}
