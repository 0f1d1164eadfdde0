// The TypeScript side of the PyTorch trainer: its config schema, progress protocol and process.
export * from './config';
export * from './protocol';
export * from './process';
