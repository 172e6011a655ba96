import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { startRouter } from './lib/router.svelte';

startRouter();
// The page's own text is the notice for a browser that cannot run this module; the app replaces it.
const target = document.getElementById('app')!;
target.replaceChildren();
mount(App, { target });
