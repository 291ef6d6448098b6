// @ts-check
/**
 * The widget's custom messages: the one catalogue on the browser side. Its
 * Python twin is decart_widgets/widget/_messages.py (tests/test_widget_messages.py
 * keeps the two equal). Every message a view sends goes through dwSend or
 * dwSendRequest, typed by this file, so `tsc --checkJs` rejects a message
 * type or field the kernel does not know.
 *
 * A widget shows one or two streams of frames: "output" (the model's frames)
 * and "input" (the frames the model is sent; DecartView with show_input).
 * Where a message may leave its stream out, it is "output".
 *
 * @typedef {"output" | "input"} DwStream
 * Browser → kernel notices (no reply):
 * @typedef {{type: "hello", view: string}} DwHello a view rendered
 * @typedef {{type: "ping", view: string}} DwPing a view is alive (every 5 s)
 * @typedef {{type: "bye", view: string}} DwBye a view was removed
 * @typedef {{type: "camera_info", view: string, facing: "user" | "environment" | null}} DwCameraInfo the camera opened; which way it faces
 * @typedef {{type: "camera_error", view: string, name?: string, message: string}} DwCameraError the camera could not be opened
 * @typedef {{type: "oack", view: string, id: number, stream?: DwStream}} DwOutputAck an output frame was drawn or skipped
 * @typedef {{type: "comm_start", view: string, streams?: DwStream[]}} DwCommStart send this view frames of these streams over the comm
 * @typedef {{type: "comm_stop", view: string}} DwCommStop stop sending this view output frames over the comm
 * @typedef {{type: "rtc_close", view: string}} DwRtcClose the view closed its peer connection
 * @typedef {{type: "transport", view: string, name: "webrtc" | "comm" | null}} DwTransport the transport the view now uses
 * @typedef {DwHello | DwPing | DwBye | DwCameraInfo | DwCameraError | DwOutputAck | DwCommStart | DwCommStop | DwRtcClose | DwTransport} DwNotice
 *
 * Browser → kernel requests (sent with an id; one DwReply each):
 * @typedef {{type: "cframe", view: string}} DwCameraFrame a camera frame as JPEG (one buffer); the reply frees the slot
 * @typedef {{type: "rtc_offer", view: string, sdp: string, streams?: DwStream[]}} DwRtcOffer a WebRTC offer, one video section per stream in order; the reply's result is {sdp}
 * @typedef {{type: "image", name: string}} DwImage a reference image file (one buffer)
 * @typedef {{type: "image_clear"}} DwImageClear remove the reference image
 * @typedef {DwCameraFrame | DwRtcOffer | DwImage | DwImageClear} DwRequest
 *
 * Kernel → browser:
 * @typedef {{type: "roles", camera_view: string | null}} DwRoles which view owns the camera
 * @typedef {{type: "oframe", id: number, stream: DwStream, counter: number | null, w: number, h: number}} DwOutputFrame a frame of one stream as JPEG (one buffer)
 * @typedef {{type: "reply", id: string, ok: boolean, result?: any, error?: string}} DwReply the answer to one request
 * @typedef {DwRoles | DwOutputFrame | DwReply} DwToBrowser
 */

/**
 * Send a notice to the kernel.
 * @param {import("./rpc.js").AnyModel} model
 * @param {DwNotice} notice
 */
export function dwSend(model, notice) {
  model.send(notice);
}

/**
 * Send a request with `id`; the kernel answers it with one DwReply of that id.
 * @param {import("./rpc.js").AnyModel} model
 * @param {DwRequest} request
 * @param {string} id
 * @param {(ArrayBuffer | ArrayBufferView)[]} [buffers]
 */
export function dwSendRequest(model, request, id, buffers) {
  model.send({ ...request, id }, undefined, buffers);
}
