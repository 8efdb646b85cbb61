// AudioWorklet module of talkstream.js's startMicrophone: cuts the (mono-mixed) input into Float32 chunks of
// `processorOptions.chunkSamples` and posts them to the main thread as {type: 'chunk', samples}. The message
// {type: 'flush'} posts what is left as {type: 'flushed', samples} and ends the processor.

class TalkstreamMicChunker extends AudioWorkletProcessor {
  constructor(options) {
    super();
    this.chunkSamples = options.processorOptions.chunkSamples;
    this.buffer = new Float32Array(this.chunkSamples);
    this.filled = 0;
    this.done = false;
    this.port.onmessage = ({ data }) => {
      if (data?.type !== 'flush' || this.done) return;
      this.done = true;
      const rest = this.buffer.slice(0, this.filled);
      this.port.postMessage({ type: 'flushed', samples: rest }, [rest.buffer]);
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (this.done) return false;
    if (!channels || channels.length === 0) return true;
    const frames = channels[0].length;
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (const channel of channels) sum += channel[i];
      this.buffer[this.filled++] = sum / channels.length;
      if (this.filled === this.chunkSamples) this.emit();
    }
    return true;
  }

  emit() {
    const samples = this.buffer;
    this.port.postMessage({ type: 'chunk', samples }, [samples.buffer]);
    this.buffer = new Float32Array(this.chunkSamples);
    this.filled = 0;
  }
}

registerProcessor('talkstream-mic-chunker', TalkstreamMicChunker);
