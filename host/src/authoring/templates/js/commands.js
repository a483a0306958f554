// {{name}}: ringmaster slash commands computed by code.

export const commands = {
  listCommands() {
    return [{ name: 'explain', description: 'Explain a file or symbol in a job of its own', argumentHint: 'TARGET' }];
  },

  // Throwing a string answers the user with it.
  run(name, args) {
    if (name !== 'explain') throw `unknown command /${name}`;
    if (args.trim() === '') throw 'usage: /explain TARGET';
    const prompt = `Explain ${args.trim()} to a new team member: what it does, why, and how it is used.`;
    const options = { tags: ['explain'], allowedTools: [] };
    return { tag: 'submit', val: { prompt, options } };
  },
};
