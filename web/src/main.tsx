import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './App.js';
import './styles.css';

// Opened with ?token= (a server off loopback): the server has set its cookie; keep the token out of the address bar.
if (new URLSearchParams(window.location.search).has('token')) {
  window.history.replaceState(null, '', `${window.location.pathname}${window.location.hash}`);
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
