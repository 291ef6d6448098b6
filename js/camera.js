// @ts-check
/** The browser camera: open, list, describe, stop. */

/**
 * Open a camera (the given device, else the default) asking for the model's size.
 * @param {string | null} deviceId
 * @param {number} width
 * @param {number} height
 * @returns {Promise<MediaStream>}
 */
export async function dwOpenCamera(deviceId, width, height) {
  if (!navigator.mediaDevices?.getUserMedia) {
    const err = new Error("this page cannot use a camera (it needs https or localhost)");
    err.name = "NotSupportedError";
    throw err;
  }
  /** @type {MediaTrackConstraints} */
  const video = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: 30 } };
  if (deviceId) video.deviceId = { exact: deviceId };
  return navigator.mediaDevices.getUserMedia({ video, audio: false });
}

/**
 * Video input devices, labelled; `facing` where the device reports it.
 * @returns {Promise<{deviceId: string, label: string}[]>}
 */
export async function dwListCameras() {
  if (!navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices
    .filter((d) => d.kind === "videoinput")
    .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `Camera ${i + 1}` }));
}

/**
 * "user" (front), "environment" (back) or null when the camera does not say.
 * @param {MediaStreamTrack | undefined} track
 * @returns {"user" | "environment" | null}
 */
export function dwFacingOf(track) {
  if (!track) return null;
  const facing = track.getSettings?.().facingMode;
  if (facing === "user" || facing === "environment") return facing;
  const label = (track.label || "").toLowerCase();
  if (/\b(back|rear|environment)\b/.test(label)) return "environment";
  if (/\b(front|user|facetime)\b/.test(label)) return "user";
  return null;
}

/** @param {MediaStream | null} stream */
export function dwStopStream(stream) {
  stream?.getTracks().forEach((t) => t.stop());
}

/**
 * A readable sentence for a getUserMedia failure.
 * @param {any} err
 */
export function dwCameraErrorMessage(err) {
  switch (err?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera permission denied: allow camera access for this page and press Connect again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera found.";
    case "NotReadableError":
      return "The camera is in use by another application.";
    default:
      return `Camera error: ${err?.message || err}`;
  }
}
